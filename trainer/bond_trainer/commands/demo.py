"""The built-in demo: a generated review corpus → pretrain the reference → a J-BOND run with the
sentiment reward, ending with the summary (reference vs Best-of-N vs policy)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Callable

from ..inputs.config import ConfigError, load_config
from ..run.console import Console
from .pretrain import PretrainSettings, pretrain

NOUNS = ["movie", "film", "food", "waiter", "hotel", "room", "book", "ending", "music", "service", "pizza",
         "phone", "camera", "story", "staff", "coffee", "plot", "show", "game", "price", "view", "bed", "soup",
         "trip", "concert", "garden", "train", "class", "teacher", "album", "beach", "bread"]
OPENERS = ["the {n} was", "i think the {n} is", "honestly the {n} felt", "overall the {n} seemed"]
POSITIVE = ["great", "wonderful", "lovely", "excellent", "delightful", "amazing", "pleasant", "superb", "good", "nice"]
NEGATIVE = ["awful", "boring", "terrible", "bad", "dull", "horrible", "poor", "disappointing", "messy", "rude"]
NEUTRAL = ["okay", "long", "short", "quiet", "simple", "average", "plain", "normal", "small", "busy"]
FEEL = {"pos": ["loved", "enjoyed"], "neg": ["hated"], "neu": ["watched", "saw", "tried"]}
DEMO_DIR = Path(__file__).resolve().parents[3] / "examples" / "demo"  # bond_trainer/commands/ → the repository
REFERENCE_SETTINGS = PretrainSettings(steps=700, batch_size=48, lr=3e-3, seed=0, layers=2, heads=4, width=128, context=128)


def _mood(rng: random.Random) -> str:
    # The reference leans negative so that Best-of-N has room to improve on it.
    return rng.choices(["pos", "neg", "neu"], weights=[0.3, 0.4, 0.3])[0]


def _adjective(rng: random.Random, mood: str) -> str:
    return rng.choice({"pos": POSITIVE, "neg": NEGATIVE, "neu": NEUTRAL}[mood])


def demo_prompts() -> list[str]:
    return [opener.format(n=noun) for noun in NOUNS for opener in OPENERS]


def demo_corpus(documents: int = 20000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    prompts = demo_prompts()
    out = []
    for _ in range(documents):
        text = f"{rng.choice(prompts)} {_adjective(rng, _mood(rng))}"
        tail = rng.randrange(5)
        other = rng.choice(NOUNS)
        if tail == 1:
            text += f" and the {other} was {_adjective(rng, _mood(rng))}"
        elif tail == 2:
            text += f", but the {other} was {_adjective(rng, _mood(rng))}"
        elif tail == 3:
            text += f". i {rng.choice(FEEL[_mood(rng)])} it"
        elif tail == 4:
            text += f" and {_adjective(rng, _mood(rng))}"
        out.append(text + ".")
    return out


def write_demo_prompts(folder: Path) -> None:
    """Regenerates examples/demo/prompts-*.jsonl (committed; kept for reference and for tests)."""
    prompts = demo_prompts()
    rng = random.Random(1)
    rng.shuffle(prompts)
    held_out = set(prompts[:24])
    for name, subset in (("prompts-train.jsonl", [p for p in prompts if p not in held_out]),
                         ("prompts-eval.jsonl", [p for p in prompts if p in held_out])):
        with open(folder / name, "w", encoding="utf-8") as handle:
            for prompt in subset:
                handle.write(json.dumps({"prompt": prompt}) + "\n")


def pretrain_reporter(console: Console, total: int, every_s: float = 2.0) -> Callable[[int, float], None]:
    """Pretraining progress for a reader that waits on it (the terminal, the walkthrough's
    notification): the first step at once, then every 100 steps or every `every_s` seconds."""
    last = [0.0]

    def report(step: int, loss: float) -> None:
        now = time.monotonic()
        if step == 1 or step % 100 == 0 or step == total or now - last[0] >= every_s:
            last[0] = now
            console.line(f"  pretrain step {step}/{total}  loss {loss:.3f} nats/byte")

    return report


def run_demo(runs_dir: Path, overrides: list[str], retrain: bool, console: Console, prepare_only: bool = False,
             reference: Path | None = None) -> int:
    config_path = DEMO_DIR / "demo.bond.json"
    if reference is not None and not prepare_only:
        console.error("--reference applies with --prepare-only (a demo workspace's reference); the demo run uses examples/demo/build/reference.pt")
        return 2
    reference = reference or DEMO_DIR / "build" / "reference.pt"
    if not prepare_only and not config_path.exists():
        console.error(f"the demo config {config_path} is missing; run the demo from a checkout of BOND Studio")
        return 2
    if retrain or not reference.exists():
        console.line(f"[1/2] pretraining the reference model π_ref on a generated review corpus → {reference}")
        started = time.time()

        pretrain(demo_corpus(), REFERENCE_SETTINGS, reference, pretrain_reporter(console, REFERENCE_SETTINGS.steps))
        console.line(f"  done in {time.time() - started:.0f} s")
    else:
        console.line(f"[1/2] reference model π_ref: {reference} (cached; --retrain-reference to rebuild)")
    if prepare_only:
        return 0
    try:
        cfg = load_config(config_path, overrides)
    except ConfigError as error:
        console.error(str(error))
        return 2
    run_dir = runs_dir / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    console.line(f"[2/2] {cfg.algorithm} run '{cfg.name}': {cfg.train.steps} steps, sentiment reward → {run_dir}")
    from ..training.session import run_training
    return run_training(cfg, run_dir, False, config_path, console)
