"""Command line: `python -m bond_trainer {train,sweep,check,validate,pretrain,demo,export-onnx}`.

Exit codes: 0 finished or stopped on request; 2 bad config or arguments; 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

from ..inputs.config import ConfigError, load_config
from ..models.gpt_shape import DEFAULT_CONTEXT, DEFAULT_HEADS, DEFAULT_LAYERS, DEFAULT_WIDTH, shape_problem
from ..run.console import Console


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)


def _add_experiment_commands(commands: Any) -> None:
    """`sweep` and `queue`: many runs, each an ordinary `train`."""
    sweep = commands.add_parser("sweep", help="run a *.sweep.json on Optuna: trials as trainer runs under --sweep-dir")
    sweep.add_argument("--sweep", required=True, type=Path, help="the sweep file")
    sweep.add_argument("--sweep-dir", required=True, type=Path, help="the sweep folder (sweep.json, the study's journal, runs/)")
    sweep.add_argument("--workers", type=int, default=None, help="trials at once (default: the file's workers)")
    sweep.add_argument("--resume", action="store_true", help="continue a stopped sweep: its stopped trials continue their runs")
    sweep.add_argument("--max-trials", type=int, default=None,
                       help="configurations in all (default: the file's max_trials); raise it to add trials to a random, tpe or nsga2 sweep")

    queue = commands.add_parser("queue", help="run the configs of a run queue (DIR/queue.json, kept by the editor) k at a time")
    queue.add_argument("--queue-dir", required=True, type=Path, help="the queue folder (queue.json, queue-state.json, logs/)")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bond_trainer", description="BOND Studio trainer")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    train = commands.add_parser("train", help="train a policy with BOND, J-BOND or REINFORCE")
    train.add_argument("--config", required=True, type=Path, help="a *.bond.json run config")
    train.add_argument("--run-dir", required=True, type=Path, help="the run folder to write (created)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field, e.g. --set train.steps=5 (repeatable)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its latest checkpoint")
    train.add_argument("--sweep-trial", default=None, metavar="JSON",
                       help="set by `sweep`: the trial this run is a seed of, recorded as run.json's sweep")

    _add_experiment_commands(commands)

    commands.add_parser("check", help="print Python, torch, devices and optional extras as JSON")

    validate = commands.add_parser("validate", help="check a config (or a sweep file); print its problems as JSON (exit 2 if any)")
    checked = validate.add_mutually_exclusive_group(required=True)
    checked.add_argument("--config", type=Path)
    checked.add_argument("--sweep", type=Path, help="a *.sweep.json: its fields, and every value applied to its base config")
    validate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    validate.add_argument("--stdin", action="store_true",
                          help="read the config's text from standard input (an editor's unsaved buffer); paths resolve against --config")
    validate.add_argument("--diff-run", type=Path, default=None, metavar="RUN_DIR",
                          help="also list what differs from the config this run last trained with (changes)")

    pre = commands.add_parser("pretrain", help="train the built-in byte-level GPT on a text corpus")
    pre.add_argument("--corpus", type=Path, help="text file, one document per line (default: generate the demo corpus)")
    pre.add_argument("--out", required=True, type=Path, help="model file to write (model.pt)")
    for name, default, kind in (("steps", 600, int), ("batch-size", 32, int), ("lr", 3e-3, float), ("seed", 0, int),
                                ("layers", DEFAULT_LAYERS, int), ("heads", DEFAULT_HEADS, int), ("width", DEFAULT_WIDTH, int),
                                ("context", DEFAULT_CONTEXT, int)):
        pre.add_argument(f"--{name}", type=kind, default=default)
    pre.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps"])

    export = commands.add_parser("export-onnx", help="export a model (policy, anchor or reference) as ONNX with a KV cache")
    export.add_argument("--checkpoint", required=True, type=Path,
                        help="a checkpoint folder (checkpoints/step-N), a model.pt file, or a Hugging Face model folder")
    export.add_argument("--out", required=True, type=Path, help="the folder to write (model.onnx + model.json); replaced atomically")
    export.add_argument("--role", default="policy", choices=["policy", "anchor", "reference"],
                        help="which weights: the checkpoint's policy (model.pt), its anchor (anchor.pt), or a reference model file")
    export.add_argument("--chat-template", action=argparse.BooleanOptionalAction, default=None,
                        help="Hugging Face models: the playground wraps prompts in the tokenizer's chat template "
                             "(default: as the run's config says for a checkpoint; off for a model folder)")

    demo = commands.add_parser("demo", help="the built-in demo: corpus → pretrain → J-BOND, with a summary")
    demo.add_argument("--runs-dir", type=Path, default=Path(".bond/runs"), help="where the demo's run folder goes")
    demo.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a demo config field")
    demo.add_argument("--retrain-reference", action="store_true", help="pretrain the reference model again")
    demo.add_argument("--prepare-only", action="store_true", help="only make sure the reference model exists")
    demo.add_argument("--reference", type=Path, default=None,
                      help="where the reference model goes (default: examples/demo/build/reference.pt); a demo workspace's build/reference.pt")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    if args.command == "check":
        from .check import environment_report
        print(json.dumps(environment_report(), indent=2))
        return 0
    if args.command == "validate":
        # One set of rules for the trainer and the editor: the extension shows these as Diagnostics.
        try:
            text = sys.stdin.buffer.read().decode("utf-8", errors="strict") if args.stdin else None
        except UnicodeDecodeError as error:
            problem = {"field": "", "message": f"not UTF-8 text at byte {error.start}", "check": "syntax", "line": None, "column": None}
            print(json.dumps({"ok": False, "config": str(args.sweep or args.config), "problems": [problem]}))
            return 2
        if args.sweep is not None:
            from ..sweeps.spec import load_sweep
            try:
                load_sweep(args.sweep, text)
            except ConfigError as error:
                print(json.dumps({"ok": False, "config": str(args.sweep), "problems": [p.to_json() for p in error.problems]}))
                return 2
            print(json.dumps({"ok": True, "config": str(args.sweep), "problems": [], "warnings": []}))
            return 0
        try:
            cfg = load_config(args.config, args.set, text)
        except ConfigError as error:
            print(json.dumps({"ok": False, "config": str(args.config), "problems": [p.to_json() for p in error.problems]}))
            return 2
        report: dict[str, object] = {"ok": True, "config": str(args.config), "problems": [],
                                     "warnings": [w.to_json() for w in cfg.warnings]}
        if args.diff_run is not None:
            report["changes"] = _changes_since(args.diff_run, cfg)
        print(json.dumps(report))
        return 0
    if args.command == "train":
        try:
            cfg = load_config(args.config, args.set)
        except ConfigError as error:
            console.error(str(error))
            return 2
        for warning in cfg.warnings:
            console.line(f"warning: {args.config}: {warning}")
        sweep_trial = _sweep_trial(args.sweep_trial)
        if isinstance(sweep_trial, str):
            console.error(sweep_trial)
            return 2
        from ..training.session import run_training
        return run_training(cfg, args.run_dir, args.resume, args.config, console, sweep_trial)
    if args.command == "sweep":
        return _sweep(args, console)
    if args.command == "queue":
        from ..sweeps.queue import run_queue
        return run_queue(args.queue_dir, console)
    if args.command == "pretrain":
        return _pretrain(args, console)
    if args.command == "export-onnx":
        return _export(args, console)
    from .demo import run_demo
    return run_demo(args.runs_dir, args.set, args.retrain_reference, console, prepare_only=args.prepare_only, reference=args.reference)


def _sweep_trial(text: Optional[str]) -> Optional[dict[str, Any]] | str:
    """--sweep-trial's JSON, checked against run.schema's sweep (a string says what is wrong)."""
    if text is None:
        return None
    from ..inputs.schema import Validator, load_schema
    try:
        value = json.loads(text)
    except ValueError as error:
        return f"--sweep-trial: not JSON ({error})"
    schema = load_schema("run")
    issues = Validator({**schema["properties"]["sweep"], "definitions": schema.get("definitions", {})}).validate(value)
    if issues or not isinstance(value, dict):
        return f"--sweep-trial: {'; '.join(f'{i.path}: {i.message}' for i in issues) or 'expected an object'}"
    return value


def _sweep(args: argparse.Namespace, console: Console) -> int:
    from ..inputs.extras import MissingPackage
    from ..sweeps.spec import load_sweep
    try:
        spec = load_sweep(args.sweep)
    except ConfigError as error:
        console.error(str(error).replace("invalid config", "invalid sweep", 1))
        return 2
    if args.workers is not None and args.workers < 1:
        console.error(f"--workers {args.workers}: give at least 1")
        return 2
    if args.max_trials is not None:
        if spec.method == "grid":
            console.error(f"--max-trials: {args.sweep} is a grid, which runs each of its points once; add values to its parameters instead")
            return 2
        if args.max_trials < 1:
            console.error(f"--max-trials {args.max_trials}: give at least 1")
            return 2
        spec.max_trials = args.max_trials
    from ..sweeps.runner import run_sweep
    try:
        return run_sweep(spec, args.sweep_dir, args.workers, args.resume, console)
    except MissingPackage as error:
        console.error(str(error))
        print(json.dumps({"ok": False, "problem": str(error), "install": error.install}))
        return 2


def _changes_since(run_dir: Path, cfg: Any) -> list[dict[str, Any]]:
    """What a resume of run_dir with cfg would change, against its last segment's config."""
    from ..inputs.config import config_changes, normalised_config
    from ..run.rundir import segments_of
    from ..run.layout import RUN_FILE
    try:
        meta = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # no readable run: nothing to compare with (train --resume says why)
    return config_changes(normalised_config(segments_of(meta)[-1]["config"]), cfg.to_json())


def _export(args: argparse.Namespace, console: Console) -> int:
    from ..models.export import ExportError, export_onnx
    from ..inputs.extras import MissingPackage
    step: Optional[int] = None
    if args.checkpoint.is_dir() and args.checkpoint.name.startswith("step-") and args.checkpoint.name[5:].isdigit():
        step = int(args.checkpoint.name[5:])
    try:
        info = export_onnx(args.checkpoint, args.out, args.role, step, args.chat_template)
    except (ExportError, MissingPackage) as error:
        console.error(str(error))
        # for the editor (contracts/trainer-cli.ts ExportFailure): what to pip-install, when that is the fix
        print(json.dumps({"ok": False, "problem": str(error), "install": getattr(error, "install", [])}))
        return 2
    console.line(f"wrote {args.out}/model.onnx ({info.role}, {info.layers}x{info.width}, step {info.step}) and model.json")
    return 0


def _pretrain(args: argparse.Namespace, console: Console) -> int:
    from .demo import demo_corpus
    from .pretrain import PretrainSettings, pretrain, read_corpus
    try:
        documents = read_corpus(args.corpus) if args.corpus else demo_corpus()
    except (OSError, ValueError) as error:
        console.error(f"--corpus: {error}")
        return 2
    shape = shape_problem(args.width, args.heads)
    if shape:
        console.error(f"--heads: {shape}")
        return 2
    settings = PretrainSettings(args.steps, args.batch_size, args.lr, args.seed, args.layers, args.heads,
                                args.width, args.context, args.device)

    def report(step: int, loss: float) -> None:
        if step % 50 == 0 or step == settings.steps:
            console.line(f"pretrain step {step}/{settings.steps}  loss {loss:.3f} nats/byte")

    loss = pretrain(documents, settings, args.out, report)
    console.line(f"wrote {args.out} (final loss {loss:.3f})")
    return 0
