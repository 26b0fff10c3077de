"""`leae demo`: the options of the demo Space's app and the hand-over to it (the app itself is `leae_hub.space`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

REPOSITORY = "https://github.com/leae-hub/leae-hub"
DEMO_APP = Path("spaces") / "leae-demo" / "app.py"
PACKAGED_DEMO_APP = Path(__file__).resolve().parents[1] / "space" / "app.py"


def find_demo_app() -> Path | None:
    """The demo app: `spaces/leae-demo/app.py` of the working directory when it is a leae-hub checkout (its example
    faces sit beside it), else the copy packaged with `leae_hub` (`leae_hub/space/app.py`, no example photos)."""
    for app in (Path.cwd() / DEMO_APP, PACKAGED_DEMO_APP):
        if app.is_file():
            return app
    return None


def parse_demo_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The options of `leae demo` / the Space's `python app.py` (the app parses them: `demo_main` hands them over)."""
    parser = argparse.ArgumentParser(prog=prog, description="The leae-hub demo Space.")
    parser.add_argument("--model", default=os.environ.get("LEAE_MODEL_ID"), help="local folder or Hub repo id")
    parser.add_argument("--port", type=int, default=None, help="server port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", default=False, help="create a public gradio.live link")
    return parser.parse_args(argv)


def demo_main(argv: Sequence[str]) -> int:
    """Replace this process with the demo Space's app (`find_demo_app`)."""
    app = find_demo_app()
    if app is None:
        print(
            f"leae demo: the demo app is missing from this installation ({PACKAGED_DEMO_APP}): reinstall it, "
            "pip install 'leae-hub[space]', or run it from a checkout: git clone "
            f"{REPOSITORY} && cd leae-hub && pip install -e '.[space]' && leae demo --model MODEL",
            file=sys.stderr,
        )
        return 2
    env = {**os.environ, "LEAE_DEMO_PROG": "leae demo"}  # the app's --help and errors name the typed command
    os.execve(sys.executable, [sys.executable, str(app), *argv], env)
    return 0  # not reached: execve does not return
