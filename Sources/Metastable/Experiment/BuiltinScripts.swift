/// Scripts compiled into the binary, so that `metastable plot` works away from the repository.
/// `scripts/plot.py` holds the same text (a test keeps the two equal).
public enum BuiltinScripts {
    /// Figures of a results directory (matplotlib): E[τ] against each swept parameter with
    /// the fits, and the hitting-time histograms; for algorithm experiments, the figures
    /// their results declare.
    public static let plot = #"""
        #!/usr/bin/env python3
        """Figures of a metastable results directory (results.json, results.csv, histograms.csv).

        Writes PNG files into the output directory (default: the results directory). For a
        hitting-time experiment:
          scaling-<parameter>.png  for every swept numeric parameter of a grid: E[tau] against it on
                                   log-log axes, one series per combination of the other parameters
                                   (Monte Carlo means with 95% error bars, exact values, the fitted
                                   power law from results.json's `fits`, the theoretical slope);
          histograms.png           the hitting-time histogram of every point, on log axes.
        For an algorithm experiment (results.json has `algorithm`), every figure its `figures` list
        declares: columns of the points' tables (or of the summary, one row per point) against each
        other, intervals as error bars, theory curves as lines.

        `metastable plot DIR` runs a copy of this script embedded in the binary.
        Usage: plot.py RESULTS_DIR [--out DIR]
        """

        import argparse
        import csv
        import io
        import json
        import math
        import os
        import sys

        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.lines import Line2D
            from matplotlib.ticker import NullFormatter
            from PIL import Image  # a dependency of matplotlib
        except ImportError:
            sys.stderr.write("error: matplotlib is not installed for python3: pip install matplotlib\n")
            sys.exit(3)

        # What each known parameter is, for axis labels; the theoretical slope of Theorem 3.2.
        AXES = {
            "epsilon": ("ε (sparse-edge probability)", -1.0),
            "cluster_size": ("M (states per cluster)", 1.0),
            "clusters": ("K − 1 (hard steps: clusters − 1)", 1.0),
        }
        SYMBOLS = {"epsilon": "ε", "cluster_size": "M", "clusters": "K"}
        DPI = 100
        BINS_PER_DECADE = 10


        def regressor(name, value):
            """The value a parameter enters the fit as: K − 1 for clusters (E[τ] ≈ (K−1)·M/ε)."""
            x = float(value)
            return x - 1 if name == "clusters" else x


        def load(directory):
            with open(os.path.join(directory, "results.json")) as f:
                results = json.load(f)
            with open(os.path.join(directory, "results.csv")) as f:
                rows = {int(r["point"]): r for r in csv.DictReader(f)}
            histograms = {}
            with open(os.path.join(directory, "histograms.csv")) as f:
                for r in csv.DictReader(f):
                    histograms.setdefault(int(r["point"]), []).append(
                        (int(r["bin_lower"]), int(r["bin_upper"]), int(r["count"])))
            return results, rows, histograms


        def number(text):
            return float(text) if text not in ("", None) else None


        def numeric_parameters(results):
            """Grid parameters with at least two values, every one positive after `regressor`."""
            names = []
            for name in results["grid_parameters"]:
                try:
                    values = {regressor(name, p["parameters"][name]) for p in results["points"]}
                except ValueError:
                    continue
                if len(values) > 1 and min(values) > 0:
                    names.append(name)
            return names


        def fitted(fit, regressors, parameters):
            """The fitted power law at a point's parameters, or None when the fit lacks one of them."""
            if fit is None:
                return None
            log_y = fit["intercept"]["value"]
            for r, slope in zip(regressors, fit["slopes"]):
                if r["parameter"] not in parameters:
                    return None
                log_y += slope["value"] * math.log(regressor(r["parameter"], parameters[r["parameter"]]))
            return math.exp(log_y)


        def slope_text(fit, j, label):
            if fit is None:
                return None
            s = fit["slopes"][j]
            ci = s.get("ci95")
            interval = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
            return f"{label} {s['value']:+.3f}{interval}"


        def scaling_figure(results, rows, name, out):
            label, theory = AXES.get(name, (name, None))
            others = [n for n in results["grid_parameters"] if n != name]
            fits = results.get("fits")
            regressors = fits["regressors"] if fits else []
            index = next((j for j, r in enumerate(regressors) if r["parameter"] == name), None)
            mc_fit = fits.get("monte_carlo") if fits and index is not None else None
            exact_fit = fits.get("exact") if fits and index is not None else None
            line_fit = mc_fit or exact_fit

            series = {}
            for p in results["points"]:
                key = tuple(p["parameters"][n] for n in others)
                series.setdefault(key, []).append(p)
            colors = plt.cm.viridis([i / max(len(series) - 1, 1) * 0.9 for i in range(len(series))])

            fig, ax = plt.subplots(figsize=(7, 5.2), dpi=DPI)
            lowest = None
            for color, (key, points) in zip(colors, sorted(series.items(), key=lambda kv: kv[1][0]["index"])):
                points.sort(key=lambda p: regressor(name, p["parameters"][name]))
                xs = [regressor(name, p["parameters"][name]) for p in points]
                means, errors = [], []
                for p in points:
                    row = rows[p["index"]]
                    mean, high = number(row["mc_mean"]), number(row["mc_ci95_high"])
                    means.append(mean if mean is not None else math.nan)
                    errors.append(high - mean if mean is not None and high is not None else 0)
                ax.errorbar(xs, means, yerr=errors, fmt="o", ms=4, color=color, capsize=2, lw=1)
                exact = [number(rows[p["index"]]["exact"]) for p in points]
                if any(e is not None for e in exact):
                    ax.plot(xs, [e if e is not None else math.nan for e in exact], "D", ms=7, mfc="none", mec=color, mew=1)
                line = [fitted(line_fit, regressors, p["parameters"]) for p in points]
                if all(v is not None for v in line):
                    ax.plot(xs, line, "-", color=color, lw=1, alpha=0.8)
                    if lowest is None or line[0] < lowest[1][0]:
                        lowest = (xs, line)
            if theory is not None and lowest is not None:
                # The theoretical slope, drawn through the lowest series' fit and moved down by 2×.
                xs, line = lowest
                x0, y0 = xs[0], line[0] / 2
                ax.plot([xs[0], xs[-1]], [y0, y0 * (xs[-1] / x0) ** theory], "k--", lw=1.5)

            ax.set_xscale("log")
            ax.set_yscale("log")
            # Ticks at the grid's own values, written plainly: a sweep spans a decade or two.
            values = sorted({regressor(name, p["parameters"][name]) for p in results["points"]})
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(label)
            ax.set_ylabel("E[τ] (steps)")
            parts = [t for t in (slope_text(mc_fit, index, "MC"), slope_text(exact_fit, index, "exact")) if t] if index is not None else []
            title = f"{results['experiment']}: E[τ] vs {name}"
            if parts:
                title += "\nfitted slope " + ", ".join(parts)
            if theory is not None:
                title += f"; theory {theory:+.0f}"
            ax.set_title(title, fontsize=10)
            handles = [
                Line2D([], [], marker="o", ls="", color="gray", label="Monte Carlo mean ± 95%"),
                Line2D([], [], marker="D", ls="", mfc="none", mec="gray", label="exact"),
            ]
            if line_fit is not None:
                handles.append(Line2D([], [], color="gray", label=f"joint power-law fit ({'MC' if mc_fit else 'exact'})"))
            if theory is not None and lowest is not None:
                handles.append(Line2D([], [], color="k", ls="--", label=f"theory: slope {theory:+.0f}"))
            if others:
                handles.append(Line2D([], [], ls="", label="colour: " + ", ".join(others)))
            ax.legend(handles=handles, fontsize=8, loc="best")
            ax.grid(True, which="major", alpha=0.3)
            fig.tight_layout()
            path = os.path.join(out, f"scaling-{name}.png")
            save(fig, path)
            return path


        def histogram_figure(results, rows, histograms, out):
            points = results["points"]
            columns = math.ceil(math.sqrt(len(points)))
            lines = math.ceil(len(points) / columns)
            fig, axes = plt.subplots(lines, columns, figsize=(1.6 * columns + 1, 1.25 * lines + 1), dpi=DPI, squeeze=False)
            for ax in axes.flat[len(points):]:
                ax.set_visible(False)
            names = results["grid_parameters"]
            for ax, p in zip(axes.flat, points):
                # Coarsen the fine log bins to BINS_PER_DECADE per decade: counts per bin then show
                # the law of log τ without the noise of near-empty bins.
                coarse = {}
                for lower, upper, count in histograms.get(p["index"], []):
                    key = math.floor(math.log10(max((lower + upper) / 2, 1)) * BINS_PER_DECADE)
                    coarse[key] = coarse.get(key, 0) + count
                if coarse:
                    keys = range(min(coarse), max(coarse) + 1)
                    edges = [10 ** (k / BINS_PER_DECADE) for k in list(keys) + [max(coarse) + 1]]
                    ax.stairs([coarse.get(k, 0) for k in keys], edges, fill=True, color="tab:blue")
                exact = number(rows[p["index"]]["exact"])
                if exact:
                    ax.axvline(exact, color="k", lw=0.8, ls="--")
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
                ax.tick_params(labelsize=6)
                title = " ".join(f"{SYMBOLS.get(n, n)}={p['parameters'][n]}" for n in names)
                ax.set_title(title or f"point {p['index']}", fontsize=7)
            fig.suptitle(f"{results['experiment']}: hitting-time histograms, τ in steps "
                         f"({BINS_PER_DECADE} log bins per decade); dashed: exact E[τ]",
                         fontsize=10)
            fig.supxlabel("τ (steps)", fontsize=9)
            fig.supylabel("walks per bin", fontsize=9)
            fig.tight_layout()
            path = os.path.join(out, "histograms.png")
            save(fig, path)
            return path


        def summary_rows(results):
            """One row per grid point: its grid parameters (as numbers where they are), index, rounds,
            steps and headline values."""
            rows = []
            for p in results["points"]:
                row = {name: as_number(p["parameters"].get(name)) for name in results["grid_parameters"]}
                row.update(point=p["index"], rounds=p["rounds"], steps=p["steps"])
                row.update({k: v for k, v in p["values"].items()})
                rows.append(row)
            return rows


        def table_rows(results, name):
            """Every point's rows of table `name`, with the point's index and grid parameters."""
            rows = []
            for p in results["points"]:
                for table in p["tables"]:
                    if table["name"] != name:
                        continue
                    prefix = {g: as_number(p["parameters"].get(g)) for g in results["grid_parameters"]}
                    prefix["point"] = p["index"]
                    for cells in table["rows"]:
                        row = dict(prefix)
                        row.update(zip(table["columns"], cells))
                        rows.append(row)
            return rows


        def as_number(value):
            try:
                return float(value)
            except (TypeError, ValueError):
                return value


        def point_label(results, index):
            """A grid point by its parameters: "ε=0.1, decoys=0"."""
            point = next((p for p in results["points"] if p["index"] == index), None)
            if point is None or not results["grid_parameters"]:
                return f"point {index}"
            return ", ".join(f"{SYMBOLS.get(n, n)}={point['parameters'][n]}" for n in results["grid_parameters"])


        def usable(value, log):
            return isinstance(value, (int, float)) and math.isfinite(value) and (value > 0 or not log)


        def algorithm_figure(results, figure, out):
            rows = summary_rows(results) if figure["table"] == "summary" else table_rows(results, figure["table"])
            rows = [r for r in rows if all(r.get(k) == v for k, v in figure.get("only", {}).items())]
            for column in figure.get("at_largest", []):
                values = [r[column] for r in rows if isinstance(r.get(column), (int, float))]
                rows = [r for r in rows if values and r.get(column) == max(values)]
            group_by = figure.get("group_by")
            if group_by is None and figure["table"] != "summary" and len(results["points"]) > 1:
                group_by = "point"
            groups = {}
            for row in rows:
                groups.setdefault(row.get(group_by) if group_by else None, []).append(row)
            keys = sorted(groups, key=lambda k: (isinstance(k, str), k if k is not None else 0))
            colors = plt.cm.viridis([i / max(len(keys) - 1, 1) * 0.9 for i in range(len(keys))])
            # One group: each series its own colour instead.
            series_colors = plt.cm.tab10(range(len(figure["series"]))) if len(keys) == 1 else None
            markers = "osD^v<>"
            log_x, log_y = figure["log_x"], figure["log_y"]
            slice_values = {c: rows[0].get(c) for c in figure.get("at_largest", []) if rows}

            fig, ax = plt.subplots(figsize=(7, 5.2), dpi=DPI)
            xs_all = []
            for group_color, key in zip(colors, keys):
                for j, series in enumerate(figure["series"]):
                    color = series_colors[j] if series_colors is not None else group_color
                    points = []
                    for row in groups[key]:
                        x, y = row.get(figure["x"]), row.get(series["column"])
                        if usable(x, log_x) and usable(y, log_y):
                            low, high = row.get(series.get("lower")), row.get(series.get("upper"))
                            points.append((x, y, low if usable(low, log_y) else y, high if usable(high, log_y) else y))
                    if not points:
                        continue
                    points.sort()
                    xs = [p[0] for p in points]
                    ys = [p[1] for p in points]
                    xs_all += xs
                    if series["theory"]:
                        ax.plot(xs, ys, "--", color=color, lw=1.2)
                    elif series.get("lower") or series.get("upper"):
                        errors = [[max(y - lo, 0) for _, y, lo, _ in points], [max(hi - y, 0) for _, y, _, hi in points]]
                        ax.errorbar(xs, ys, yerr=errors, fmt=markers[j % len(markers)] + "-", ms=4, color=color, capsize=2, lw=1)
                    else:
                        ax.plot(xs, ys, markers[j % len(markers)] + "-", ms=4, color=color, lw=1)
            if figure["diagonal"] and xs_all:
                lo, hi = min(xs_all), max(xs_all)
                ax.plot([lo, hi], [lo, hi], "k:", lw=1.2)
            if log_x:
                ax.set_xscale("log")
            if log_y:
                ax.set_yscale("log")
            ax.set_xlabel(figure["x_label"])
            ax.set_ylabel(figure["y_label"])
            title = f"{results['experiment']}: {figure['title']}"
            held = dict(figure.get("only", {}))
            held.update({k: v for k, v in slice_values.items() if isinstance(v, (int, float))})
            if held:
                title += " (" + ", ".join(f"{SYMBOLS.get(k, k)} = {v:g}" for k, v in held.items()) + ")"
            ax.set_title(title, fontsize=10)
            handles = []
            for j, series in enumerate(figure["series"]):
                color = series_colors[j] if series_colors is not None else "gray"
                if series["theory"]:
                    handles.append(Line2D([], [], color=color, ls="--", label=series["label"]))
                else:
                    handles.append(Line2D([], [], marker=markers[j % len(markers)], color=color, label=series["label"]))
            if figure["diagonal"]:
                handles.append(Line2D([], [], color="k", ls=":", label="y = x"))
            if group_by and len(keys) > 1:
                for color, key in zip(colors, keys):
                    if group_by == "point":
                        label = point_label(results, key)
                    else:
                        label = f"{SYMBOLS.get(group_by, group_by)} = {key:g}" if isinstance(key, float) else f"{group_by} = {key}"
                    handles.append(Line2D([], [], color=color, lw=3, label=label))
            ax.legend(handles=handles, fontsize=8, loc="best")
            ax.grid(True, which="major", alpha=0.3)
            fig.tight_layout()
            path = os.path.join(out, figure["file"])
            save(fig, path)
            return path


        def save(fig, path):
            """A 256-colour PNG: line art loses nothing and the files stay small enough to commit."""
            buffer = io.BytesIO()
            fig.savefig(buffer, dpi=DPI, format="png")
            plt.close(fig)
            buffer.seek(0)
            Image.open(buffer).convert("RGB").quantize(colors=256).save(path, optimize=True)


        def main():
            parser = argparse.ArgumentParser(description="Figures of a metastable results directory.")
            parser.add_argument("results", help="a directory with results.json, results.csv and histograms.csv")
            parser.add_argument("--out", help="where to write the PNG files (default: the results directory)")
            args = parser.parse_args()
            out = args.out or args.results
            try:
                with open(os.path.join(args.results, "results.json")) as f:
                    results = json.load(f)
                if "algorithm" in results:
                    os.makedirs(out, exist_ok=True)
                    written = [algorithm_figure(results, figure, out) for figure in results["figures"]]
                else:
                    results, rows, histograms = load(args.results)
                    os.makedirs(out, exist_ok=True)
                    written = [scaling_figure(results, rows, name, out) for name in numeric_parameters(results)]
                    written.append(histogram_figure(results, rows, histograms, out))
            except (OSError, ValueError, KeyError) as error:
                sys.stderr.write(f"error: cannot read the results in {args.results}: {error}\n")
                return 2
            for path in written:
                print(path)
            return 0


        if __name__ == "__main__":
            sys.exit(main())

        """#
}
