"""Hostile, malformed, huge and truncated inputs thrown at every command.

Each case states the promise it tries to break: an exit code with one meaning (0 done; 1 done but
something failed; 2 bad input or environment), a single line on stderr that names what and where,
never a traceback, never an "internal error", and nothing half-written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditkit.cli import main
from auditkit.collect import Rows, snapshot_from_records
from tests.builders import nsg, rule

BIDI = "\u202e\u2066"


@pytest.fixture(scope="module")
def snaps(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adversarial") / "snaps"
    for month in (9, 10):
        snapshot_from_records(Rows([nsg(rule("smtp")), nsg(rule("ssh", port="22"), name="nsg-2")]),
                              snapshots_dir=root, as_of=f"2026-{month:02d}-01T06:00:00Z")
    return root


def _write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _params(tmp: Path, text: str) -> str:
    return str(_write(tmp / "p.yaml", text))


def _export(tmp: Path, obj) -> str:
    return str(_write(tmp / "export.json", json.dumps(obj)))


# (name, how to build the argv from (tmp, snaps), expected exit code, text that stderr must contain)
CASES = [
    # scan: files that are not exports
    ("scan_not_utf8", lambda t, s: ["scan", str(_write(t / "x.json", b'[{"id": "\x80\x81"}]'))], 2, "not UTF-8"),
    ("scan_utf16_bom", lambda t, s: ["scan", str(_write(t / "x.json", b"\xff\xfe\x00\x01"))], 2, "not valid JSON"),
    ("scan_not_json", lambda t, s: ["scan", str(_write(t / "x.json", "{oops"))], 2, "not valid JSON"),
    ("scan_empty_file", lambda t, s: ["scan", str(_write(t / "x.json", b""))], 2, "not valid JSON"),
    ("scan_nested_deep", lambda t, s: ["scan", str(_write(t / "x.json", "[" * 200000 + "]" * 200000))], 2,
     "nested too deeply"),
    ("scan_nested_in_object", lambda t, s: ["scan", str(_write(t / "x.json", '{"data": ' + "[" * 100000))], 2,
     "x.json"),
    ("scan_number", lambda t, s: ["scan", str(_write(t / "x.json", "42"))], 2, "unknown shape"),
    ("scan_data_not_list", lambda t, s: ["scan", _export(t, {"data": "rows"})], 2, "expected a list"),
    ("scan_only_garbage_records", lambda t, s: ["scan", _export(t, [1, "two", None])], 2, "no readable NSG record"),
    ("scan_table_rows_not_lists", lambda t, s: ["scan", _export(t, {"data": {"columns": ["id"], "rows": [5, 6]}})],
     2, "no NSG records"),
    ("scan_missing_file", lambda t, s: ["scan", str(t / "nope.json")], 2, "nope.json"),
    ("scan_bad_ports", lambda t, s: ["scan", _export(t, [nsg(rule("a"))]), "--ports", "25,smtp"], 2, "smtp"),
    ("scan_port_out_of_range", lambda t, s: ["scan", _export(t, [nsg(rule("a"))]), "--ports", "70000"], 2, "70000"),
    ("scan_output_in_missing_folder", lambda t, s: ["scan", _export(t, [nsg(rule("a"))]), "-o",
                                                    str(t / "no" / "such" / "out.json")], 2, "out.json"),
    ("scan_output_is_a_folder", lambda t, s: ["scan", _export(t, [nsg(rule("a"))]), "-o", str(t)], 2,
     "Is a directory"),
    ("scan_empty_list", lambda t, s: ["scan", _export(t, [])], 2, "--allow-empty"),
    ("scan_unknown_format", lambda t, s: ["scan", _export(t, [nsg(rule("a"))]), "--format", "xml"], 2,
     "invalid choice"),
    ("scan_parameters_unknown_key", lambda t, s: ["scan", _export(t, [nsg(rule("a"))]), "--parameters",
                                                  _params(t, "port: [25]\n")], 2, "did you mean 'ports'"),
    # collect --from-file
    ("collect_same_as_of_twice", lambda t, s: ["collect", "--from-file", _export(t, [nsg(rule("a"))]),
                                               "--snapshots", str(s), "--as-of", "2026-10-01T06:00:00Z"], 2,
     "already exists"),
    ("collect_bad_as_of", lambda t, s: ["collect", "--from-file", _export(t, [nsg(rule("a"))]), "--snapshots",
                                        str(t / "s"), "--as-of", "yesterday"], 2, "'yesterday'"),
    ("collect_snapshots_is_a_file", lambda t, s: ["collect", "--from-file", _export(t, [nsg(rule("a"))]),
                                                  "--snapshots", str(_write(t / "file", "x"))], 2, "file"),
    ("collect_only_subscriptions", lambda t, s: ["collect", "--from-file", _export(t, {"data": [
        {"id": "/subscriptions/x", "type": "microsoft.resources/subscriptions", "subscriptionId": "x"}]}),
        "--snapshots", str(t / "s")], 2, "no NSG records (1 records of other types)"),
    ("collect_batch_size_zero", lambda t, s: ["collect", "--batch-size", "0", "--snapshots", str(t / "s"),
                                              "--subscription", "00000000-0000-4000-8000-000000000001"], 2,
     "batch size 0"),
    # settings files
    ("settings_bool_for_number", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters",
                                               _params(t, "flows:\n  min_bytes: yes\n")], 2,
     "flows.min_bytes must be a whole number, not a boolean"),
    ("settings_string_for_list", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters",
                                               _params(t, "ports: '25'\n")], 2, "ports must be a list"),
    ("settings_near_miss", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters",
                                         _params(t, "flow:\n  min_bytes: 1\n")], 2, "did you mean 'flows'"),
    ("settings_nested_unknown", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters",
                                              _params(t, "tags:\n  owner:\n    kyes: [a]\n")], 2,
     "tags.owner.kyes"),
    ("settings_bad_prefix", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters",
                                          _params(t, "flows:\n  mail_gateways: [mail.example.com]\n")], 2,
     "is not an address prefix"),
    ("settings_not_yaml", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters",
                                        _params(t, "ports: [25\n  x: :\n")], 2, "not valid YAML"),
    ("settings_top_level_list", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters",
                                              _params(t, "- 25\n")], 2, "expected a mapping"),
    ("settings_missing_file", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters", str(t / "none.yaml")],
     2, "none.yaml"),
    ("settings_port_bool", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters",
                                         _params(t, "ports: [25, true]\n")], 2, "entry 2"),
    ("settings_billion_laughs", lambda t, s: ["kpis", "--snapshots", str(s), "--parameters", _params(
        t, "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nports: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n")], 2,
     "ports entry 1: must be a whole number, not a list"),
    # kpis / snapshots folders
    ("kpis_no_snapshots", lambda t, s: ["kpis", "--snapshots", str(t / "none")], 2, "no snapshots"),
    ("kpis_bad_as_of", lambda t, s: ["kpis", "--snapshots", str(s), "--as-of", "2026-13-45"], 2, "2026-13-45"),
    ("snapshots_is_a_file", lambda t, s: ["snapshots", "--snapshots", str(_write(t / "f", "x"))], 0, ""),
    # render
    ("render_period_13", lambda t, s: ["render", "--snapshots", str(s), "--period", "2026-13"], 2, "YYYY-MM"),
    ("render_workers_zero", lambda t, s: ["render", "--snapshots", str(s), "--workers", "0"], 2, "workers"),
    ("render_notebooks_missing", lambda t, s: ["render", "--snapshots", str(s), "--out", str(t / "o"),
                                               "--notebooks", str(t)], 2, "subscription_audit.ipynb"),
    ("render_sign_key_junk", lambda t, s: ["render", "--snapshots", str(s), "--out", str(t / "o"), "--sign-key",
                                           str(_write(t / "k", "not a key"))], 2, "not an OpenSSH or PEM"),
    ("render_out_is_a_file", lambda t, s: ["render", "--snapshots", str(s), "--out",
                                           str(_write(t / "out-file", "x"))], 2, "out-file"),
    ("render_unknown_subscription", lambda t, s: ["render", "--snapshots", str(s), "--out", str(t / "o"),
                                                  "--subscription", "not-a-sub"], 2, "appears in no snapshot"),
    # verify
    ("verify_missing_folder", lambda t, s: ["verify", str(t / "none")], 2, "not a folder"),
    ("verify_manifest_escape", lambda t, s: ["verify", str(_manifest(t, {"files": {"../../etc/passwd": {
        "sha256": "0", "size": 1}}}))], 2, "not a plain path"),
    ("verify_manifest_wrong_types", lambda t, s: ["verify", str(_manifest(t, {"files": {"a": {"sha256": 5}}}))], 2,
     "malformed manifest"),
    ("verify_public_key_junk", lambda t, s: ["verify", str(_manifest(t, {"files": {}})), "--public-key",
                                             str(_write(t / "pub", "ssh-rsa nope"))], 2, "not an OpenSSH or PEM"),
    ("verify_wrong_expected_hash", lambda t, s: ["verify", str(_manifest(t, {"files": {}})), "--expect-sha256",
                                                 "00"], 1, ""),
    # flows
    ("flows_missing_path", lambda t, s: ["flows", str(t / "none"), "--snapshot", str(s)], 2, "no such flow-log"),
    ("flows_port_out_of_range", lambda t, s: ["flows", str(t), "--snapshot", str(s), "--port", "99999"], 2,
     "99999"),
    ("flows_not_a_snapshot", lambda t, s: ["flows", str(t), "--snapshot", str(t)], 2,
     "neither a snapshot nor a folder of snapshots"),
    # init
    ("init_into_a_file", lambda t, s: ["init", str(_write(t / "afile", "x"))], 2, "afile"),
]


def _manifest(tmp: Path, body: dict) -> Path:
    folder = tmp / "period"
    folder.mkdir(exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(body))
    return folder


@pytest.mark.parametrize("name,argv,code,needle", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(name: str, argv, code: int, needle: str, snaps: Path, tmp_path: Path, capsys,
                       monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITKIT_PARAMETERS", raising=False)
    args = argv(tmp_path, snaps)
    before = sorted(p.name for p in snaps.iterdir() if p.name != ".cache")
    try:
        got = main(args)
    except SystemExit as exc:  # argparse's usage errors
        got = exc.code
    out, err = capsys.readouterr()
    assert got == code, (args, out, err)
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert needle in lines[0], err
    assert sorted(p.name for p in snaps.iterdir() if p.name != ".cache") == before  # no snapshot written


def test_there_are_at_least_40_distinct_hostile_cases() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 40


def test_bidi_and_escape_sequences_are_shown_escaped_on_the_terminal(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = f"Allow{BIDI}-SMTP\x1b[2J\x07"
    export = _export(tmp_path, [nsg(rule(evil), tags={"owner": f"x{BIDI}"})])
    assert main(["scan", export]) == 0
    out, err = capsys.readouterr()
    assert "\u202e" not in out + err
    assert "\x1b" not in out + err
    assert "\x07" not in out + err
    assert "\\u202e" in out
    assert "\\x1b" in out
    assert main(["scan", export, "--format", "json"]) == 0
    out, _ = capsys.readouterr()
    assert "\u202e" not in out
    assert json.loads(out)["findings"][0]["rule_name"] == evil  # escaped, still the data
    assert main(["scan", export, "--format", "csv"]) == 0
    out, _ = capsys.readouterr()
    assert "\u202e" not in out
    assert "\\u202e" in out
    bad = nsg(rule(evil, port="smtp"))
    assert main(["scan", _export(tmp_path, [bad, nsg(rule("ok"), name="n2")])]) == 0
    out, err = capsys.readouterr()
    assert "\u202e" not in err
    assert "\\u202e" in err  # the error line names the rule, escaped


def test_bidi_in_an_az_command_stays_visible_and_names_the_right_rule() -> None:
    import subprocess

    from auditkit.flows.remediation import restrict_command

    finding = {"subscription_id": "s", "resource_group": "rg", "nsg_name": "nsg", "rule_name": f"a{BIDI}b'; rm -rf /"}
    cmd = restrict_command(finding, ["203.0.113.0/24"])
    assert "\u202e" not in cmd
    assert "\\u202e" in cmd
    words = subprocess.run(["bash", "-c", "printf '%s\\n' " + cmd.split(" --name ", 1)[1].split(" --source")[0]],
                           capture_output=True, text=True).stdout
    assert words == finding["rule_name"] + "\n"  # bash reads the escaped word back as the exact name


def test_bidi_in_html_is_visible(tmp_path: Path) -> None:
    from auditkit.present.html import esc

    html = esc(f"mail{BIDI}gw<script>")
    assert "\u202e" not in html
    assert "\\u202e" in html
    assert "&lt;script&gt;" in html
    assert 'class="ak-hidden"' in html


def test_disk_full_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    monkeypatch.chdir(tmp_path)
    export = _export(tmp_path, [nsg(rule("a"))])
    import auditkit.cli.scan as cli

    real = cli.write

    def to_full(text: str, out: str | None) -> None:
        with open("/dev/full", "w") as fh:
            fh.write(text)
            fh.flush()

    monkeypatch.setattr(cli, "write", to_full)
    assert main(["scan", export]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1
    assert "No space left on device" in err
    monkeypatch.setattr(cli, "write", real)


def test_read_only_output_folder_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    if os.geteuid() == 0:
        target = "/proc/version"  # root ignores permission bits: write to a file nobody may write
    else:
        (tmp_path / "ro").mkdir()
        os.chmod(tmp_path / "ro", 0o555)
        target = str(tmp_path / "ro" / "out.json")
    monkeypatch.chdir(tmp_path)
    assert main(["scan", _export(tmp_path, [nsg(rule("a"))]), "-o", target]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1
    assert "auditkit: error:" in err


def test_lone_surrogates_in_an_export_are_kept_as_visible_text(tmp_path: Path, capsys) -> None:
    """JSON can spell a lone surrogate (``\\ud800``) that no UTF-8 text can hold; the standard
    parser lets it through. It must neither crash the engine nor vanish: it is shown as ``\\ud800``."""
    import auditkit
    from auditkit.collect.offline import collect_from_file
    from auditkit.history.kpis import kpis

    rec = nsg(rule("smtp", description="d"), name="nsg-x", tags={"owner": "o"})
    text = json.dumps([rec]).replace('"smtp"', '"smtp\\ud800"').replace('"d"', '"d\\udfff"') \
        .replace('"owner": "o"', '"own\\udc00er": "o\\ud800"').replace('/nsg-x"', '/nsg-\\udbffx"')
    export = _write(tmp_path / "export.json", text)
    found = auditkit.scan(export).findings
    assert found["rule_name"].tolist() == ["smtp\\ud800"]
    assert found["description"].tolist() == ["d\\udfff"]
    assert found["tags"].tolist() == [{"own\\udc00er": "o\\ud800"}]
    assert found["nsg_id"][0].endswith("/nsg-\\udbffx")
    assert main(["scan", str(export), "--format", "csv"]) == 0
    assert "smtp\\ud800" in capsys.readouterr().out
    collect_from_file(export, snapshots_dir=tmp_path / "snaps", as_of="2026-01-01T00:00:00Z")
    assert kpis(tmp_path / "snaps")["open_findings"]["25"] == 1
