"""Each azure-batch release other than the package's own runs from its own virtual environment, made on first use.

`<cache>/<version>/` is a virtual environment holding `azure-batch==<version>` from the package index (pip, with
the user's own pip configuration); a marker file written last says it is complete, so an interrupted install is
redone. The cache is `$BATCH_CONFORMANCE_SDK_CACHE`, else `$XDG_CACHE_HOME/batch-conformance/sdk`, else
`~/.cache/batch-conformance/sdk`. `batch-conformance sdk install VERSION` prepares one ahead, on a machine that can
reach the index; a run or diff that needs one it cannot install stops with one line, before sending anything.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

from conformance.models import HarnessError, UsageError
from conformance.spec import SdkRelease, sdk, sdks

CACHE_ENV = "BATCH_CONFORMANCE_SDK_CACHE"
READY = ".batch-conformance-ready"
INSTALL_TIMEOUT = 900.0
# pip's words for an index it could not reach (its own last ERROR line then only says "no matching distribution")
_UNREACHABLE = ("NewConnectionError", "Connection refused", "Name or service not known", "Temporary failure in name",
                "Network is unreachable", "timed out", "ProxyError", "SSLError", "No route to host")


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    """Where the SDK environments live."""
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "batch-conformance" / "sdk"


def env_dir(release: str) -> Path:
    """The virtual environment of one release."""
    return cache_dir() / release


def python_in(env: Path) -> Path:
    """The interpreter of a virtual environment."""
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def installed(release: str) -> Path | None:
    """The interpreter of a complete environment for the release, or None."""
    env = env_dir(release)
    return python_in(env) if (env / READY).is_file() and python_in(env).exists() else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One installer at a time per release (a second waits, then finds the environment ready)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; installs are rare enough
        yield
        return
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(release: SdkRelease) -> Path:
    """The interpreter of the release's environment, installing it first when there is none."""
    return installed(release.version) or install(release)


def install(release: SdkRelease, *, force: bool = False) -> Path:
    """Create the release's environment from the package index; HarnessError in one line when that fails."""
    env = env_dir(release.version)
    try:
        env.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the SDK cache {env.parent}: {err.strerror} (set {CACHE_ENV})") from None
    with _locked(env.parent / f"{release.version}.lock"):
        if not force and installed(release.version):
            return python_in(env)
        shutil.rmtree(env, ignore_errors=True)
        try:
            _create(env, release)
        except BaseException:
            shutil.rmtree(env, ignore_errors=True)
            raise
    return python_in(env)


def _main_pip_usable() -> bool:
    """Whether this environment's pip can install into another interpreter (pip --python, pip 22.3 and later)."""
    if importlib.util.find_spec("pip") is None:
        return False
    from importlib.metadata import version

    major, minor = (int(p) for p in version("pip").split(".")[:2])
    return (major, minor) >= (22, 3)


def _create(env: Path, release: SdkRelease) -> None:
    borrow = _main_pip_usable()  # no pip of its own: faster, and the environment holds only the SDK
    venv.EnvBuilder(with_pip=not borrow, symlinks=os.name != "nt").create(env)
    python = python_in(env)
    pip = [sys.executable, "-m", "pip", "--python", str(python)] if borrow else [str(python), "-m", "pip"]
    # -vv: pip names an index it could not reach only at this verbosity when it does not retry (PIP_RETRIES=0)
    command = [*pip, "install", "-vv", "--disable-pip-version-check", "--no-input", f"azure-batch=={release.version}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"installing {release.label} took over {INSTALL_TIMEOUT:g} s; try "
                           f"`batch-conformance sdk install {release.version}` on a better connection") from None
    if done.returncode != 0:
        raise HarnessError(f"cannot install {release.label} into {env}: {_pip_reason(done.stdout + done.stderr)}; "
                           f"check that the package index is reachable (PIP_INDEX_URL), or run "
                           f"`batch-conformance sdk install {release.version}` where it is")
    probe = "import importlib.metadata as m, azure.batch; print(m.version('azure-batch'))"
    found = subprocess.run([str(python), "-I", "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    if found.stdout.strip() != release.version:
        raise HarnessError(f"{env} holds azure-batch {found.stdout.strip() or 'nothing importable'}, not "
                           f"{release.version}")
    (env / READY).write_text(json.dumps({"azure-batch": release.version, "python": sys.version.split()[0]}) + "\n")


def _pip_reason(output: str) -> str:
    """pip's failure in a few words: the index was unreachable, or its own last ERROR line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    found_nothing = any(e.startswith(("No matching distribution", "Could not find a version")) for e in errors)
    unreachable = next((m for m in _UNREACHABLE if any(m in line for line in lines)), None)
    if found_nothing and unreachable is not None:
        return f"pip could not reach the package index ({unreachable})"
    return (errors[-1] if errors else (lines[-1] if lines else "pip failed"))[:200]


# --- batch-conformance sdk ---------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`batch-conformance sdk install VERSION` and `sdk list`."""
    sub = parser.add_subparsers(dest="sdk_command", required=True)
    install_cmd = sub.add_parser("install", help="create (or, with --force, recreate) a release's environment")
    install_cmd.add_argument("version", metavar="VERSION", help=f"an azure-batch release ({', '.join(sdks())})")
    install_cmd.add_argument("--force", action="store_true", help="reinstall even when it is ready")
    sub.add_parser("list", help="the releases the suite drives and where each runs")


def main(args: argparse.Namespace) -> int:
    """Install a release's environment, or list the releases; 2 (one line) when that cannot be done."""
    if args.sdk_command == "list":
        for release in sdks().values():
            where = "in-process (the package's own dependency)" if release.in_process else (
                str(installed(release.version) or f"not installed ({env_dir(release.version)})"))
            print(f"{release.label}  api-version {release.api_version}  {release.call}  {where}")
        return 0
    try:
        release = sdk(args.version)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if release.in_process:
        print(f"{release.label} is the package's own dependency and runs in-process: nothing to install")
        return 0
    python = install(release, force=args.force)
    print(f"{release.label} ready: {python}")
    return 0
