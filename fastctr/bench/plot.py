"""--plot FILE.png: each runtime's latencies as a box plot, side by side,
its median written on it.  matplotlib is the optional extra fastctr[plot];
command.check_plot says so before anything runs."""


def write(path, summaries, latencies, title):
    import matplotlib
    matplotlib.use("Agg")  # a file, no display
    import matplotlib.pyplot as plt
    names = [n for n, _ in summaries]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(names) + 2), 5), dpi=100)
    data = [latencies[n] for n in names]
    ax.boxplot(data, showfliers=True, widths=0.5, medianprops={"color": "tab:red"})
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20)
    for i, (name, s) in enumerate(summaries, start=1):
        # right of the box (half a unit wide), on white: readable over whiskers and points
        ax.annotate(f"{s['median_ms']:.1f} ms", (i + 0.27, s["median_ms"]), va="center", ha="left", fontsize=9,
                    color="tab:red", bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.set_ylabel("start to exit (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
