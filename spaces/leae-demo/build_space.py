"""Assemble the deployable leae-demo Space folder: app.py, README.md, requirements.txt, the leae-hub wheel, examples/.

    python spaces/leae-demo/build_space.py OUT_DIR [--org ORG] [--space-id ORG/NAME] [--wheel-url-base URL]

then upload OUT_DIR as it is (see README.md beside this file, "Deploy"):

    hf upload ORG/leae-demo OUT_DIR . --repo-type space

The wheel is built with `pip wheel --no-deps` from a clean copy of the repository (so no stale `build/` leaks in) and
placed beside app.py. requirements.txt pins it by file name and sha256. Hugging Face's builder installs
requirements.txt *before* it copies the Space's files, so the pin points at the wheel's download URL in the Space repo
itself (`https://huggingface.co/spaces/ORG/leae-demo/resolve/main/<wheel>`) rather than at `./<wheel>`, which would
not exist yet at that step. `--wheel-url-base .` writes the relative path instead, for installing from the folder.

The README front matter gets the zoo's trained repos under `--org` (`leae_hub.zoo`) as `models:`.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from leae_hub import zoo

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SPACE_NAME = "leae-demo"
# What the Space runs from this folder; everything else here (tests' helpers, builders) stays behind.
SPACE_FILES = ("app.py",)
SOURCE_FILES = ("pyproject.toml", "README.md", "src")


def build_wheel(out_dir: Path, repo: Path = REPO) -> Path:
    """Build the leae-hub wheel from a clean copy of `repo` into `out_dir`; returns the wheel's path."""
    with tempfile.TemporaryDirectory(prefix="leae-wheel-") as tmp:
        source = Path(tmp) / "leae-hub"
        source.mkdir()
        for name in SOURCE_FILES:
            path = repo / name
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: run build_space.py from a checkout of leae-hub.")
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy2(path, source / name)
        built = Path(tmp) / "wheel"
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(built), str(source)]
        subprocess.run(command, check=True)
        wheels = sorted(built.glob("leae_hub-*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"pip wheel made {[w.name for w in wheels]}, expected one leae_hub-*.whl.")
        return Path(shutil.copy2(wheels[0], out_dir / wheels[0].name))


def sha256(path: Path) -> str:
    """The file's SHA-256, as hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_requirement(wheel: Path, url_base: str) -> str:
    """The requirements.txt line for the wheel: `./<wheel>` when `url_base` is ".", else a URL pinned by sha256."""
    if url_base == ".":
        return f"./{wheel.name}"
    return f"leae-hub @ {url_base.rstrip('/')}/{wheel.name}#sha256={sha256(wheel)}"


def space_readme(text: str, model_ids: list[str]) -> str:
    """The Space README with its front matter's `models:` list replaced by `model_ids`."""
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    if match is None:
        raise ValueError("README.md must start with the Space's YAML front matter between two '---' lines.")
    lines, out, skipping = match.group(1).splitlines(), [], False
    for line in lines:
        if skipping and line.startswith("  - "):
            continue
        skipping = line.startswith("models:")
        if skipping:
            out += ["models:", *(f"  - {model_id}" for model_id in model_ids)]
        else:
            out.append(line)
    if not any(line.startswith("models:") for line in lines):
        raise ValueError("README.md front matter has no 'models:' list to fill.")
    return "---\n" + "\n".join(out) + "\n---\n" + text[match.end() :]


def build_space(
    out_dir: Path, org: str | None = None, space_id: str | None = None, url_base: str | None = None
) -> Path:
    """Write the deployable Space into `out_dir` (new or empty); returns `out_dir`.

    Args:
        out_dir: the folder to fill; it must not exist yet, or be empty.
        org: Hub organisation of the zoo's models (default `$LEAE_HUB_ORG`, else `leae-hub`).
        space_id: the Space's repo id (default `ORG/leae-demo`), for the wheel's download URL.
        url_base: where the Space's build downloads the wheel from (default the Space repo's `resolve/main`); "."
            writes `./<wheel>` instead.
    """
    org = zoo.hub_org(org)
    space_id = space_id or f"{org}/{SPACE_NAME}"
    url_base = url_base or f"https://huggingface.co/spaces/{space_id}/resolve/main"
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty: give a new or empty folder for the Space.")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SPACE_FILES:
        shutil.copy2(HERE / name, out_dir / name)
    shutil.copytree(HERE / "examples", out_dir / "examples")
    readme = space_readme((HERE / "README.md").read_text(encoding="utf-8"), zoo.trained_repo_ids(org))
    (out_dir / "README.md").write_text(readme, encoding="utf-8")
    wheel = build_wheel(out_dir)
    template = (HERE / "requirements.txt").read_text(encoding="utf-8").splitlines()
    lines = [line for line in template if line.strip() and not line.lstrip().startswith("#")]
    header = "# Written by build_space.py. The Space SDK installs gradio itself, at sdk_version in README.md."
    (out_dir / "requirements.txt").write_text("\n".join([header, *lines, wheel_requirement(wheel, url_base)]) + "\n")
    return out_dir


def main(argv: list[str] | None = None) -> None:
    """Command line: `build_space.py OUT_DIR [--org ORG] [--space-id ORG/NAME] [--wheel-url-base URL]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="new or empty folder to write the Space into")
    parser.add_argument("--org", default=None, help="Hub organisation of the zoo (default: $LEAE_HUB_ORG or leae-hub)")
    parser.add_argument("--space-id", default=None, help="the Space's repo id (default: ORG/leae-demo)")
    parser.add_argument(
        "--wheel-url-base",
        default=None,
        help="where the Space's build downloads the wheel (default: the Space repo's resolve/main URL; '.' for a "
        "relative path)",
    )
    args = parser.parse_args(argv)
    out = build_space(args.out_dir, org=args.org, space_id=args.space_id, url_base=args.wheel_url_base)
    print(f"Space folder ready: {out}")
    for path in sorted(out.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(out)}")


if __name__ == "__main__":
    main()
