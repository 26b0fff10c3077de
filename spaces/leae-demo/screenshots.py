"""Screenshots of the tabs of the Space in a real browser (headless Chromium): the four image tabs once per face model,
and the Lab tab once.

    python spaces/leae-demo/screenshots.py --model model_cards/leae-faces-128 --model model_cards/leae-celeba-64
    python spaces/leae-demo/screenshots.py --model model_cards/leae-faces-128 --tab lab

write `docs/screenshots/<tab>-<size>px.png` (e.g. `latent_brush-128px.png`) for each model, and
`docs/screenshots/lab.png`: the app runs on 127.0.0.1, and each image tab is opened with `?tab=<tab>&example=<name>`,
which fills it with an example face (a pair for Interpolate and Latent brush, the eyes region for the brush) and runs
it before the screenshot is taken; the Inpaint tab shows its best inpainting model beside that model's twin
(`&compare=1`). 128-px models get the UTKFace examples, others the CelebA ones. The Lab tab is used
as a visitor would: the browser clicks "Train" (the 2-D mixture, default method and steps), waits for the last
landscape, clicks "Compare the models" (noisy TV), and waits for the figure. Needs Chromium
(`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE.parents[1] / "docs" / "screenshots"
# Browser window per tab (width, height): tall enough for the outputs and the report.
WINDOWS = {
    "reconstruct": (1280, 1000),
    "inpaint": (1280, 1000),
    "interpolate": (1280, 1250),
    "latent_brush": (1280, 1500),
}
LAB_WINDOW = (1280, 1500)
# A tab is ready for its screenshot when its report is on the page and every image has loaded.
_IMAGES_LOADED = "Array.from(document.images).every(image => image.complete && image.naturalWidth > 0)"
READY = {
    tab: f"document.body.innerText.includes({json.dumps(text)}) && {_IMAGES_LOADED}"
    for tab, text in {
        "reconstruct": "compression",
        "inpaint": "hole PSNR",
        "interpolate": "images decoded",
        "latent_brush": "latent cells",
    }.items()
}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def find_chromium() -> str:
    """The Chromium (or Chrome) executable on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    raise FileNotFoundError("Chromium not found: install it (apt-get install -y chromium) or pass --chromium PATH.")


def _load_app():
    spec = importlib.util.spec_from_file_location("leae_demo_app", HERE / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def example_for(model: str, examples: dict[str, str]) -> str:
    """The example a model's screenshots show: a 25-year-old's photo (the examples span ages 10 to 50)."""
    return next((name for name in examples if name.startswith("utkface-25_")), next(iter(examples)))


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on the
    child's fd 3, answers on fd 4, each a JSON message ending in a NUL byte): no driver or extra package needed."""

    def __init__(self, executable: str, window: tuple[int, int]):
        self._profile = tempfile.TemporaryDirectory(prefix="leae-chromium-", ignore_cleanup_errors=True)
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()

        def wire_pipes() -> None:  # in the child, before exec: the protocol's fixed descriptors
            os.dup2(commands_read, 3)
            os.dup2(answers_write, 4)

        self._process = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={window[0]},{window[1]}",
                "about:blank",
            ],
            preexec_fn=wire_pipes,
            close_fds=False,
            start_new_session=True,  # its own process group: close() ends the helpers (GPU, crashpad) with it
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._buffer = b""
        self._next_id = 0
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(target["targetId"] for target in targets if target["type"] == "page")
        self._session = self.send("Target.attachToTarget", targetId=page, flatten=True)["sessionId"]

    def send(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command (to the page when `session`) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._answers, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe while waiting for {method}.")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method} failed: {answer['error']}")
                return answer["result"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)["result"].get(
            "value"
        )

    def wait(self, ready: str, timeout: float, what: str) -> None:
        """Poll until the JavaScript expression `ready` is true; TimeoutError naming `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.evaluate(ready) is not True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} was not ready ({ready}) within {timeout:.0f} s.")
            time.sleep(0.5)

    def capture(self, path: Path) -> None:
        """Save a PNG screenshot of the whole page (not only the window) to `path`."""
        time.sleep(1.0)  # let the last images decode and paint
        size = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.send("Page.captureScreenshot", session=True, format="png", clip=clip, captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def screenshot(self, url: str, ready: str, path: Path, timeout: float = 180.0) -> None:
        """Open `url`, wait until the JavaScript expression `ready` is true, and save a PNG screenshot to `path`."""
        self.send("Page.navigate", session=True, url=url)
        self.wait(ready, timeout, url)
        self.capture(path)

    def close(self) -> None:
        """End the browser and every helper process it started, then remove its profile. Chromium's helpers can
        still be writing into the profile after the main process has gone, so the whole process group is killed and
        the removal is retried before it gives up (a leftover temporary folder is not worth a failure)."""
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError):
            pass  # the pipe is already gone: the process is ended below
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=30)
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # no helper left in the group
        os.close(self._commands)
        os.close(self._answers)
        for _ in range(10):
            shutil.rmtree(self._profile.name, ignore_errors=True)
            if not os.path.exists(self._profile.name):
                break
            time.sleep(0.5)


def _click(label: str) -> str:
    """JavaScript that clicks the visible button labelled `label` and returns whether it found one."""
    return (
        "(() => { const button = Array.from(document.querySelectorAll('button')).find(b => b.offsetParent !== null "
        f"&& b.innerText.trim() === {json.dumps(label)}); if (button) {{ button.click(); }} return !!button; }})()"
    )


def _lab_images_loaded(count: int) -> str:
    """JavaScript: the Lab tab shows at least `count` loaded images."""
    return (
        "Array.from(document.querySelectorAll('#lab-tab img')).filter(image => image.complete && "
        f"image.naturalWidth > 0).length >= {count}"
    )


def lab_screenshot(url: str, path: Path, browser: str, mog_steps: int, timeout: float = 180.0) -> None:
    """Open the Lab tab at `url`, click "Train" and wait for step `mog_steps` of `mog_steps` (the Steps slider's value)
    and its landscape, click "Compare the models" and wait for its last report and figure; save a screenshot."""
    chromium = Browser(browser, LAB_WINDOW)
    try:
        chromium.send("Page.navigate", session=True, url=f"{url.rstrip('/')}/?tab=lab")
        chromium.wait(_click("Train"), timeout, "the Lab tab's Train button")
        done = f"step {mog_steps} of {mog_steps}"
        ready = f"document.body.innerText.includes({json.dumps(done)}) && {_lab_images_loaded(1)}"
        chromium.wait(ready, timeout, "the 2-D landscape")
        if chromium.evaluate(_click("Compare the models")) is not True:
            raise RuntimeError("no 'Compare the models' button in the Lab tab")
        ready = f"document.body.innerText.includes('All five models trained') && {_lab_images_loaded(2)}"
        chromium.wait(ready, timeout, "the noisy-TV comparison")
        chromium.capture(path)
    finally:
        chromium.close()


def take_screenshots(
    models: list[str], out_dir: Path = OUT_DIR, browser: str | None = None, tabs: list[str] | None = None
) -> list[Path]:
    """Run the app with `models` and screenshot `tabs` (default: all): each image tab with each model, the Lab tab
    once; returns the PNG paths."""
    tabs = list(WINDOWS) + ["lab"] if tabs is None else tabs
    browser = browser or find_chromium()
    for model in models:
        if not (Path(model) / "config.json").is_file():
            raise FileNotFoundError(f"--model {model!r} is not a saved model folder (no config.json in it).")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    app = _load_app()
    out_dir.mkdir(parents=True, exist_ok=True)
    examples = app.example_images()
    written: list[Path] = []
    for index, model in enumerate(models):
        demo = app.build_demo(models, default=model)
        size = json.loads((Path(model) / "config.json").read_text())["image_size"]
        _, url, _ = demo.launch(
            server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True, css=app.CSS
        )
        try:
            if index == 0 and "lab" in tabs:
                path = out_dir / "lab.png"
                lab_screenshot(url, path, browser, app.LAB_MOG_STEPS[2])
                written.append(path)
                print(f"wrote {path}")
            for tab, window in WINDOWS.items():
                if tab not in tabs:
                    continue
                path = out_dir / f"{tab}-{size}px.png"
                chromium = Browser(browser, window)
                try:
                    page = f"{url.rstrip('/')}/?tab={tab}&example={example_for(model, examples)}"
                    page += "&compare=1" if tab == "inpaint" else ""  # beside its twin, when it has one
                    chromium.screenshot(page, READY[tab], path)
                finally:
                    chromium.close()
                written.append(path)
                print(f"wrote {path}")
        finally:
            demo.close()
    return written


def main(argv: list[str] | None = None) -> None:
    """Command line: `screenshots.py --model FOLDER [--model FOLDER ...] [--out DIR] [--chromium PATH]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a saved model folder (repeat for more)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"where to write the PNGs (default: {OUT_DIR})")
    parser.add_argument("--chromium", default=None, help="the browser executable (default: chromium on PATH)")
    parser.add_argument(
        "--tab", action="append", choices=[*WINDOWS, "lab"], default=None, help="only this tab (repeat for more)"
    )
    args = parser.parse_args(argv)
    take_screenshots(args.model, args.out, args.chromium, args.tab)


if __name__ == "__main__":
    main()
