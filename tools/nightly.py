#!/usr/bin/env python3
"""The nightly job: record the suite, publish the pages, check for regressions, write the report.

Steps: tools/record_run.py (with --torch-repo, at torch's own commit in that
clone), `asv publish` (so that its step detection covers tonight), then
tools/check_regressions.py against the previous run of this machine, with the
report written to --report. Exits with the check's code: 0 no regression (or the
first night), 1 a regression, 2 an error in the input; 3 where a step broke (the
record failed or refused, the publish failed, or a tool failed): a broken job,
never a regression. Where the publish failed the check still runs (its report,
without asv's step detection, and tonight's suspects are kept) and the job is
broken.
Every step runs from the repository's root: asv loads the conf's plugin from there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from lib.cli import (
    FINDING,
    SUCCESS,
    TOOL_FAILED,
    USER_ERROR,
    ToolError,
    checked_factor,
    importing,
    machine_name,
    outside_results,
    python_path,
    run_tool,
    runnable_pythons,
    tool_parser,
    writable_folder,
)

with importing():
    from lib.conf import derived_conf, read_conf
    from lib.results import default_results_dir
    from lib.suite import DEFAULT_CONF, REPO_ROOT, TORCH_COMMITS_CONF
    from lib.supervisor import relayed

TOOLS = Path(__file__).resolve().parent


def step(*command: str) -> int:
    """One step, under the supervisor: killing the nightly (kill -9 included) ends the step and all under it.
    Its output passes through ours: where our reader has gone, the output is lost, not the step."""
    print(f"+ {' '.join(command)}", flush=True)
    return relayed(list(command), REPO_ROOT)


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    parser.add_argument("--machine", required=True, type=machine_name, help="asv machine name (one per GPU kind)")
    parser.add_argument("--python", type=python_path, default=sys.executable,
                        help="the Python whose torch is benchmarked")
    parser.add_argument("--torch-repo", type=Path, help="a PyTorch clone: record at torch's own commit")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "nightly-report.md")
    parser.add_argument("--factor", type=float, help="passed to check_regressions.py")
    parser.add_argument("--baseline-python", type=python_path,
                        help="passed to check_regressions.py: last night's torch, kept")
    parser.add_argument("--calibration", nargs=2, metavar=("A", "B"), help="passed to check_regressions.py")
    return parser


def checked_paths(args: argparse.Namespace) -> None:
    """The Pythons and the PyTorch clone the steps will use are there, before any step runs: a typo found by the
    record would read as a broken job."""
    runnable_pythons({"--python": args.python, "--baseline-python": args.baseline_python})
    if args.torch_repo and not args.torch_repo.is_dir():
        raise ToolError(f"--torch-repo {args.torch_repo}: no such folder")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.factor is not None:  # the check's, checked before the night is recorded
        checked_factor(args.factor)
    args.report = args.report.absolute()  # the steps run elsewhere (the Pythons: cli.python_path)
    writable_folder(args.report)
    outside_results(args.report, default_results_dir())  # the check refuses it too, but after tonight's record
    checked_paths(args)
    if args.torch_repo:
        args.torch_repo = args.torch_repo.absolute()
    with tempfile.TemporaryDirectory() as folder:
        recorded = Path(folder) / "commit"
        record = [sys.executable, str(TOOLS / "record_run.py"), "--python", args.python, "--machine", args.machine,
                  "--commit-file", str(recorded)]
        # Without a PyTorch clone the night is labelled by this suite's HEAD: one night per commit, never a
        # second over it (it would replace the first, and find no night before it to compare with).
        record += ["--repo", str(args.torch_repo), "--at-torch-commit"] if args.torch_repo else ["--new-commit-only"]
        if step(*record):
            # Its exit 2 too: a Python that lost torch, a clone not fetched, break tonight's job (the record's
            # own line says which); only the check's codes are the job's.
            print("error: recording failed; nothing was checked (a broken job, not a finding)", file=sys.stderr)
            return TOOL_FAILED
        # Tonight's night, not the one whose commit is the newest: a torch build older than one recorded before
        # (a job run again for an earlier day) is checked as itself.
        contender = recorded.read_text().strip()
    # The same repository as the record's, so that publish orders the results by its commits (and, torch's,
    # links them to PyTorch's).
    links = {"show_commit_url": read_conf(TORCH_COMMITS_CONF)["show_commit_url"]} if args.torch_repo else None
    conf, values = derived_conf(DEFAULT_CONF, args.torch_repo, None, None, REPO_ROOT / ".asv" / "conf-nightly",
                                links)
    html = None
    published = step(sys.executable, "-m", "asv", "publish", "--config", str(conf)) == 0
    if published:
        html = values["html_dir"]
        if step(sys.executable, str(TOOLS / "localize_pages.py"), html):
            print("the pages still load their libraries from CDNs", file=sys.stderr)
    else:
        print("asv publish failed: the report goes without its step detection", file=sys.stderr)
    check = [sys.executable, str(TOOLS / "check_regressions.py"), "--machine", args.machine, "--contender", contender,
             "--report", str(args.report), "--record-verdict", "--contender-python", args.python]
    if html:
        check += ["--html-dir", html]
    if args.baseline_python:
        check += ["--baseline-python", args.baseline_python]
    if args.factor is not None:
        check += ["--factor", repr(args.factor)]
    if args.calibration:
        check += ["--calibration", *args.calibration]
    code = step(*check)
    if not published and code != TOOL_FAILED:
        print(f"error: asv publish failed (the check exited {code}): a broken job", file=sys.stderr)
        return TOOL_FAILED
    return code if code in (SUCCESS, FINDING, USER_ERROR) else TOOL_FAILED


if __name__ == "__main__":
    sys.exit(run_tool(main))
