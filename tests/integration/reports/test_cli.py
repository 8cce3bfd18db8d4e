"""`cityops report` writes the file, audits the export and refuses bad input with a message."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import select

from dashboard import cli
from reports import service
from store.models.core import AuditEntry
from store.runtime import Runtime
from store.settings import Settings


@pytest.fixture
def cli_rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("CITYOPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CITYOPS_SIMULATOR", "off")
    monkeypatch.delenv("CITYOPS_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return Runtime.start(Settings())


def test_report_command_writes_a_pdf_of_the_shift_and_audits_it(cli_rt: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "shift.pdf"

    code = cli.main(["report", "--shift", "2026-11-26T07", "--format", "pdf", "--out", str(out), "--lang", "en"])

    assert code == 0
    text = pypdf.PdfReader(out).pages[0].extract_text()
    assert "Shift report" in text and "2026-11-26 07:00–15:00 (Asia/Seoul)" in text
    with cli_rt.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.export")).one()
    assert entry.subject_id == "2026-11-26T07" and entry.payload["format"] == "pdf" and entry.actor.startswith("cli:")
    cli_rt.close()


def test_report_command_default_file_name_for_csv(cli_rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["report", "--shift", "2026-11-26T23", "--format", "csv"])

    assert code == 0
    path = tmp_path / "cityops-2026-11-26T23.zip"
    names = zipfile.ZipFile(io.BytesIO(path.read_bytes())).namelist()
    assert "report.json" in names and "01_summary.csv" in names
    assert "sha256" in capsys.readouterr().out
    cli_rt.close()


@pytest.mark.parametrize("argv", [["report", "--shift", "2026-11-26T08"], ["report", "--start", "2026-11-26T07:00"],
                                  ["report", "--shift", "2026-11-26T07", "--start", "2026-11-26T07:00", "--end", "2026-11-26T08:00"],
                                  ["report", "--incident", "4242"]])
def test_report_command_refuses_bad_input_with_a_message(cli_rt: Runtime, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(argv)

    assert code == 1
    assert capsys.readouterr().err.startswith("cityops: ")
    cli_rt.close()


def test_period_defaults_to_the_current_shift(rt: Runtime) -> None:
    # FakeClock starts at 03:00 UTC = 12:00 KST
    assert service.period_for(rt).shift_id == "2026-11-26T07"
