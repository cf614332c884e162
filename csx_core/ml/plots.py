"""Report plots as PNG files (matplotlib's Agg canvas, no global pyplot state)."""

from __future__ import annotations

from pathlib import Path

from csx_core.ml.backtest import BacktestReport

PLOT_FILES = ("reliability.png", "precision_at_k.png", "cum_net_pnl.png")


def write_plots(report: BacktestReport, out_dir: Path) -> list[Path]:
    """Reliability diagram, precision@K curve and cumulative net PnL; returns the paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    specs = (
        ("reliability.png", "Reliability (equal-mass bins)", "mean predicted p", "observed rate"),
        ("precision_at_k.png", "Precision@K per tick", "K", "precision"),
        (
            "cum_net_pnl.png",
            f"Cumulative net PnL, top-{report.config['k']}, label policy",
            "decision tick with a trade",
            "net bps per trade, summed",
        ),
    )
    for filename, title, xlabel, ylabel in specs:
        fig = Figure(figsize=(5, 4), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for name, curve in report.curves.items():
            if filename == "reliability.png":
                if "reliability_p" in curve:  # the random reference has no probabilities
                    ax.plot(curve["reliability_p"], curve["reliability_freq"], "o-", label=name)
            elif filename == "precision_at_k.png":
                ks = range(1, len(curve["precision_at_k"]) + 1)
                ax.plot(list(ks), curve["precision_at_k"], "o-", label=name)
            else:
                ax.plot(curve["cum_net_pnl_bps"], label=name)
        if filename == "reliability.png":
            ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
        elif filename == "precision_at_k.png":
            ax.axhline(report.base_rate, color="k", ls="--", lw=0.8, label="base rate")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend()
        fig.tight_layout()
        path = out_dir / filename
        fig.savefig(path, format="png", metadata={"Software": None})
        paths.append(path)
    return paths
