"""Assemble the deployable leae-demo Space folder: app.py, README.md, LICENSE, requirements.txt, examples/ and the
leae_hub package source.

    python spaces/leae-demo/build_space.py OUT_DIR [--org ORG] [--hardware cpu|gpu]

then upload OUT_DIR as it is (see README.md beside this file, "Deploy"):

    hf upload ORG/leae-demo OUT_DIR . --repo-type space

The Space runs app.py from its own folder, so the package source copied beside it (`leae_hub/`, this checkout's
src/leae_hub without caches, with the app's modules in `leae_hub/space/` but not a second app.py) is what
`import leae_hub` finds: nothing points at the Space's own URL, so a private or duplicated Space builds the same way.
requirements.txt lists the package's core dependencies (pyproject.toml's `dependencies`); for CPU hardware (the default)
it adds PyTorch's CPU index, so the build installs the CPU wheel of torch (about 200 MB) rather than PyPI's multi-GB
CUDA build. `--org` is written into app.py (`SPACE_ORG`: its menu lists that organisation's repos) and into the README
front matter, as `models:` (the zoo's trained repos) and `preload_from_hub:` (the same repos, downloaded into the
Space's image at build time).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tomllib
from pathlib import Path

from leae_hub import zoo

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SPACE_NAME = "leae-demo"
# What the Space runs from this folder; everything else here (tests' helpers, builders) stays behind.
SPACE_FILES = ("app.py", "LICENSE")
APP_ORG_LINE = "SPACE_ORG: str | None = None\n"
CPU_TORCH_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
HARDWARE = ("cpu", "gpu")


def core_requirements(repo: Path = REPO) -> list[str]:
    """The package's core dependencies, as pyproject.toml declares them."""
    return list(tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])


def copy_package(out_dir: Path, repo: Path = REPO) -> Path:
    """Copy `src/leae_hub` (no caches, no build metadata) to `out_dir/leae_hub`; returns the copy. The app's modules
    in `space/` go with it, all but `space/app.py`: the Space's own app.py is that file."""
    source = repo / "src" / "leae_hub"
    if not (source / "__init__.py").is_file():
        raise FileNotFoundError(f"{source} is missing: run build_space.py from a checkout of leae-hub.")
    caches = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")

    def ignore(folder: str, names: list[str]) -> set[str]:
        return caches(folder, names) | ({"app.py"} if Path(folder) == source / "space" else set())

    return Path(shutil.copytree(source, out_dir / "leae_hub", ignore=ignore))


def space_readme(text: str, model_ids: list[str]) -> str:
    """The Space README with its front matter's `models:` and `preload_from_hub:` lists replaced by `model_ids`."""
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    if match is None:
        raise ValueError("README.md must start with the Space's YAML front matter between two '---' lines.")
    lines, out, skipping = match.group(1).splitlines(), [], False
    for key in ("models:", "preload_from_hub:"):
        if key not in lines:
            raise ValueError(f"README.md front matter has no {key!r} list to fill.")
    for line in lines:
        if skipping and line.startswith("  - "):
            continue
        skipping = line in ("models:", "preload_from_hub:")
        out += [line, *(f"  - {model_id}" for model_id in model_ids)] if skipping else [line]
    return "---\n" + "\n".join(out) + "\n---\n" + text[match.end() :]


def build_space(out_dir: Path, org: str | None = None, hardware: str = "cpu") -> Path:
    """Write the deployable Space into `out_dir` (new or empty); returns `out_dir`.

    Args:
        out_dir: the folder to fill; it must not exist yet, or be empty.
        org: Hub organisation of the zoo's models (default `$LEAE_HUB_ORG`, else `leae-hub`).
        hardware: `cpu` (torch from PyTorch's CPU index) or `gpu` (torch from PyPI, with CUDA).
    """
    if hardware not in HARDWARE:
        raise ValueError(f"hardware must be one of {', '.join(HARDWARE)}, got {hardware!r}")
    org = zoo.hub_org(org)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty: give a new or empty folder for the Space.")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SPACE_FILES:
        shutil.copy2(HERE / name, out_dir / name)
    app = (out_dir / "app.py").read_text(encoding="utf-8")
    if app.count(APP_ORG_LINE) != 1:
        raise ValueError(f"app.py must hold the line {APP_ORG_LINE.strip()!r} once, for the Space's organisation.")
    baked = app.replace(APP_ORG_LINE, f"SPACE_ORG: str | None = {json.dumps(org)}\n")
    (out_dir / "app.py").write_text(baked, encoding="utf-8")
    shutil.copytree(HERE / "examples", out_dir / "examples")
    readme = space_readme((HERE / "README.md").read_text(encoding="utf-8"), zoo.trained_repo_ids(org))
    (out_dir / "README.md").write_text(readme, encoding="utf-8")
    copy_package(out_dir)
    template = (HERE / "requirements.txt").read_text(encoding="utf-8").splitlines()
    lines = [line for line in template if line.strip() and not line.lstrip().startswith("#")]
    header = [
        "# Written by build_space.py. The Space SDK installs gradio itself, at sdk_version in README.md; leae_hub is",
        "# the package source beside app.py; these are its core dependencies.",
    ]
    index = [CPU_TORCH_INDEX] if hardware == "cpu" else []
    (out_dir / "requirements.txt").write_text("\n".join([*header, *index, *lines, *core_requirements()]) + "\n")
    return out_dir


def main(argv: list[str] | None = None) -> None:
    """Command line: `build_space.py OUT_DIR [--org ORG] [--hardware cpu|gpu]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="new or empty folder to write the Space into")
    parser.add_argument("--org", default=None, help="Hub organisation of the zoo (default: $LEAE_HUB_ORG or leae-hub)")
    parser.add_argument(
        "--hardware", default="cpu", choices=HARDWARE, help="the Space's hardware: cpu takes torch's CPU wheel"
    )
    args = parser.parse_args(argv)
    out = build_space(args.out_dir, org=args.org, hardware=args.hardware)
    print(f"Space folder ready: {out}")
    for path in sorted(out.iterdir()):
        print(f"  {path.name}{'/' if path.is_dir() else ''}")


if __name__ == "__main__":
    main()
