"""``cityops report``: a shift, range or incident report as PDF, XLSX or CSV from the command line.

    cityops report --shift 2026-11-26T07 --format pdf [--out FILE] [--lang ko|en]
    cityops report --start 2026-11-26T07:00 --end 2026-11-26T19:00 --format xlsx
    cityops report --incident 12 --format pdf
    cityops report --shift 2026-11-26T07 --format json   # the canonical data the SHA-256 covers

Whoever can run this can read the database, so no role is checked; the export is still written
to the audit log, with the operating-system user as the actor.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

FORMATS = ("pdf", "xlsx", "csv", "json")


def add_cli(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="export a shift, range or incident report (pdf, xlsx, csv)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--shift", help="local date and start hour of a shift, e.g. 2026-11-26T07 (default: the current shift)")
    which.add_argument("--incident", type=int, help="an incident id: its after-action report")
    p.add_argument("--start", help="range start, ISO 8601 (local time unless an offset is given)")
    p.add_argument("--end", help="range end, ISO 8601")
    p.add_argument("--format", choices=FORMATS, default="pdf")
    p.add_argument("--out", help="output file (default: cityops-<subject>.<ext> in the current directory; '-' for stdout)")
    p.add_argument("--lang", choices=["ko", "en"], help="language of the labels (default: the CITYOPS_LANGUAGE setting)")
    p.set_defaults(fn=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from reports import export, service
    from store.errors import ValidationError
    from store.runtime import Runtime
    from store.settings import Settings

    if args.incident is not None and (args.start or args.end):
        raise ValidationError("--incident takes no --start/--end")
    rt = Runtime.start(Settings())
    try:
        if args.incident is not None:
            report = service.incident_report(rt, args.incident)
        else:
            report = service.shift_report(rt, service.period_for(rt, shift=args.shift, start=args.start, end=args.end))
        actor = f"cli:{getpass.getuser()}"
        if args.format == "json":
            content, name = export.canonical_json(report), f"cityops-{report.subject}.json"
            digest = export.content_hash(report)
        else:
            out = service.export_report(rt, report, args.format, actor=actor, lang=args.lang, via="cli")
            content, name, digest = out.content, out.filename, out.sha256
    finally:
        rt.close()
    if args.out == "-":
        sys.stdout.buffer.write(content)
        return 0
    path = Path(args.out or name)
    path.write_bytes(content)
    print(f"{path} ({len(content):,} bytes) {report.period.label} sha256 {digest}")
    return 0
