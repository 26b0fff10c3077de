"""The JEPA lab: small, measured experiments after the JEPA tutorial
(https://github.com/CICS-Oleg/JointEmbeddingArchitecturesTutorial) and the teacherless seq-JEPA, reported in
docs/lab.md and docs/teacherless.md."""
