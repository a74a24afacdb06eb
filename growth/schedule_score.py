"""The score of a growth run (``growth.score``): its measured rows, growth events and, for a
controller run, its decisions, energy dual and benefit records; a table, a plot and JSON."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from mosaic.figures import new_figure, save


@dataclass
class ScheduleScore:
    """Rows (one per segment, see module doc) and the growth events actually applied; for a
    controller run its decision ``log``, the energy ``dual``'s history, one ``benefit`` record
    per growth, and the trained ``model`` (not serialised)."""

    spec: str
    budget: dict
    rows: list[dict] = field(default_factory=list)
    events: list[tuple[int, int, int]] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    dual: list[dict] = field(default_factory=list)
    benefit: list[dict] = field(default_factory=list)
    wall_s: float = 0.0
    model: nn.Sequential | None = field(default=None, repr=False, compare=False)   # trained; not serialised

    @property
    def final(self) -> dict:
        return self.rows[-1]

    @property
    def violations(self) -> list[str]:
        return [f"step {r['step']}: {v}" for r in self.rows for v in r["violations"]]

    def to_dict(self) -> dict:
        return {"spec": self.spec, "budget": self.budget, "rows": self.rows,
                "events": [list(e) for e in self.events], "log": self.log, "dual": self.dual,
                "benefit": self.benefit, "wall_s": self.wall_s}

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1, default=float)
        if path is not None:
            Path(path).write_text(text)
        return text

    def table(self) -> str:
        head = (f"{'step':>6} {'sizes':>12} {'acc %':>6} {'energy nJ':>10} {'model nJ':>9} "
                f"{'latency us':>10} {'port use':>8} {'cores':>5}  violations")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['step']:>6} {'-'.join(map(str, r['sizes'][:-1])):>12} "
                         f"{100 * r['accuracy']:>6.1f} {r['energy_pj'] / 1e3:>10.1f} "
                         f"{r['model_energy_pj'] / 1e3:>9.1f} {r['latency_ns'] / 1e3:>10.2f} "
                         f"{r['port_use']:>8.4f} {r['cores']:>5}  {'; '.join(r['violations']) or '-'}")
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None):
        """Accuracy and energy per inference along the run; writes a PNG when ``path`` is given
        (``mosaic.figures.save``) and returns the figure."""
        fig, (ax,) = new_figure(1, 6, 3.5)
        steps = [r["step"] for r in self.rows]
        ax.plot(steps, [100 * r["accuracy"] for r in self.rows], "o-", color="C0")
        ax.set_xlabel("training step")
        ax.set_ylabel("test accuracy (%)", color="C0")
        ax2 = ax.twinx()
        ax2.plot(steps, [r["energy_pj"] / 1e3 for r in self.rows], "s--", color="C3")
        ax2.set_ylabel("energy per inference (nJ)", color="C3")
        if self.budget.get("energy_pj"):
            ax2.axhline(self.budget["energy_pj"] / 1e3, color="C3", lw=0.8, ls=":")
        ax.set_title(f"growth on {self.spec}")
        return save(fig, path)
