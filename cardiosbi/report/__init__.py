"""HTML reports of inference runs: ``render_report(run_dir)`` / ``cardiosbi report RUN_DIR``."""

from cardiosbi.report.render import ReportOptions, render_report

__all__ = ["ReportOptions", "render_report"]
