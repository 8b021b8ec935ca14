"""``render --cluster``: the same reports on a Dask cluster (a LocalCluster of worker processes)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from auditkit.demo.tenant import demo_parameters
from auditkit.render import RenderRequest, notebooks_dir, render
from auditkit.render.manifest import verify
from tests.storage_emulator import connection_string

pytestmark = pytest.mark.slow(seconds=30)  # each test; the cluster and the published period are shared
SUBS = ["f38b2ffc-80a4-4f5a-81c9-bc701e7ea419", "14aa4e71-9d3c-4dec-80a6-1f933d6c51e3"]
STABLE = ("file", "notebook", "pdf", "subscription_id", "subscription_name", "ok")


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as c:
        yield c.scheduler_address


def _set_environment(values: dict) -> None:
    os.environ.update(values)


@pytest.fixture(scope="module")
def storage(azurite: str, cluster: str, tmp_path_factory) -> str:
    """Azurite's credentials and a staging folder, here and in the environment of the cluster's workers."""
    from distributed import Client

    from auditkit.evidence.storage import filesystem

    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(azurite),
           "AUDITKIT_STAGING": str(tmp_path_factory.mktemp("staging"))}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        with Client(cluster) as client:
            client.run(_set_environment, env)
        fs, _ = filesystem("abfs://audit")
        fs.mkdir("audit")
        yield "abfs://audit"


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.fixture(scope="module")
def published(storage: str, cluster: str, demo_snapshots: Path) -> tuple:
    """Snapshots read from and reports published to Blob Storage (``abfs://`` on Azurite), on the
    cluster, with --assets shared and --no-notebooks: the render result and the period copied back."""
    from auditkit.evidence.storage import join, readable, upload

    upload(demo_snapshots, join(storage, "snapshots"), only=[
        p.relative_to(demo_snapshots).as_posix() for p in demo_snapshots.rglob("*")
        if p.is_file() and not p.relative_to(demo_snapshots).as_posix().startswith(".cache")])
    result = render(RenderRequest(snapshots_dir=join(storage, "snapshots"), out=join(storage, "reports"), cluster=cluster,
                                  subscriptions=SUBS, parameters_file=demo_parameters(), assets="shared",
                                  keep_notebooks=False))
    return result, readable(result.url)  # what the storage holds, copied back


@pytest.mark.needs("azurite")
def test_a_cluster_render_between_storage_urls_matches_the_local_render(published: tuple, storage: str, cluster: str,
                                                                        demo_reports: Path, tmp_path: Path) -> None:
    """The local render's reports (same manifest entries), plotly.js once per period, loaded by
    relative path and pinned in the manifest, each report under 400 KB; a changed bundle is caught."""
    from auditkit.evidence.storage import join, listing

    result, folder = published
    assert not result.failures, result.failures
    assert result.url == join(storage, "reports", result.folder.name)
    assert (not listing(join(storage, "reports")).keys() -
        {f"{result.folder.name}/{f}" for f in [*_manifest(result.folder)["files"], "manifest.json"]})
    a, local = _manifest(folder), _manifest(demo_reports)
    assert a["runner"] == {"kind": "dask", "scheduler": cluster}
    assert local["runner"]["kind"] == "local"
    assert a["parameters"]["snapshots_dir"] == join(storage, "snapshots")
    assert any(k.startswith(".cache/") for k in listing(join(storage, "snapshots")))  # derived once, shared
    want = {r["subscription_id"]: r for r in local["reports"] if r["subscription_id"] in (*SUBS, None)}
    assert len(a["reports"]) == len(want) == 3
    for r in a["reports"]:
        assert r["notebook"] is None
        assert r["attempts"] == 1
        assert {k: r[k] for k in STABLE if k != "notebook"} == \
            {k: want[r["subscription_id"]][k] for k in STABLE if k != "notebook"}
    assert a["complete"]
    assert a["snapshots"] == local["snapshots"]
    assert verify(folder) == []
    bundles = list((folder / "assets").glob("plotly-*.min.js"))
    assert len(bundles) == 1
    assert bundles[0].stat().st_size > 1_000_000
    sheets = list((folder / "assets").glob("lab-*.css"))
    assert len(sheets) == 1
    assert sheets[0].stat().st_size > 100_000
    assert a["assets"] == {"mode": "shared", "plotly_js": f"assets/{bundles[0].name}",
                           "stylesheets": [f"assets/{sheets[0].name}"]}
    assert {f"assets/{bundles[0].name}", f"assets/{sheets[0].name}"} <= set(a["files"])
    assert not list(folder.glob("*.ipynb"))
    assert not list(folder.glob(".*"))
    for name in ("index.html", f"{SUBS[0]}.html"):
        text = (folder / name).read_text()
        assert (folder / name).stat().st_size < 200_000
        assert "plotly.js v" not in text
        assert f'href="assets/{sheets[0].name}"' in text
        assert "auditkit-lab-css" not in text
        assert (folder / name).stat().st_size < (demo_reports / name).stat().st_size / 10
    copy = tmp_path / "period"  # the published period stays whole for the browser test
    shutil.copytree(folder, copy)
    bundle = copy / "assets" / bundles[0].name
    bundle.chmod(0o644)
    bundle.write_bytes(bundle.read_bytes() + b"\n;alert(1)")
    assert any(bundles[0].name in p for p in verify(copy))


@pytest.mark.needs("azurite", "chromium")
def test_reports_published_from_the_cluster_draw_their_charts_offline(browser, published: tuple) -> None:
    """Opened in Chromium: no request leaves the machine, every chart is drawn, the shared lab
    stylesheet applies."""
    from tests.browser import open_report

    folder = published[1]
    for name in ("index.html", f"{SUBS[0]}.html"):
        seen = open_report(browser, folder / name)
        assert seen["blocked"] == [], seen
        assert seen["errors"] == [], seen
        assert seen["charts"] >= 2, f"{name}: {seen}"
        assert seen["drawn"] == seen["charts"], f"{name}: {seen}"
        # The lab stylesheet applies: JupyterLab's output area styles reach the page.
        assert seen["page"].evaluate("getComputedStyle(document.body).getPropertyValue("
                                     "'--jp-ui-font-family').trim().length > 0")
        seen["page"].close()



def test_a_report_that_fails_on_the_cluster_is_reported_for_its_subscription(cluster: str, demo_snapshots: Path,
                                                                             tmp_path: Path) -> None:
    """One report fails; another's worker is killed (SIGKILL) mid-report, the first time only: that
    report is run again and lands, the failure is reported for its subscription alone."""
    nb_dir = tmp_path / "notebooks"
    shutil.copytree(notebooks_dir(), nb_dir)
    path = nb_dir / "subscription_audit.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell(f"assert subscription_id != {SUBS[1]!r}, 'broken on purpose'"))
    killed = tmp_path / "killed-once"
    # The kernel's parent is the Dask worker that runs the report.
    nb.cells.insert(3, nbformat.v4.new_code_cell(
        "import os, pathlib, signal\n"
        f"if subscription_id == {SUBS[0]!r} and not pathlib.Path({str(killed)!r}).exists():\n"
        f"    pathlib.Path({str(killed)!r}).write_text(str(os.getppid()))\n"
        "    os.kill(os.getppid(), signal.SIGKILL)"))
    nbformat.write(nb, path)
    result = render(RenderRequest(snapshots_dir=demo_snapshots, out=tmp_path / "out", cluster=cluster, subscriptions=SUBS,
                                  parameters_file=demo_parameters(), notebooks=nb_dir))
    assert killed.is_file(), "no worker was killed: the test did not test a retry"
    assert not result.swapped
    assert ".failed-" in result.folder.name
    [failure] = result.failures
    assert failure.subscription_id == SUBS[1]
    assert failure.error["ename"] == "AssertionError"
    m = _manifest(result.folder)
    assert [f["subscription_id"] for f in m["failures"]] == [SUBS[1]]
    assert not m["complete"]
    assert (result.folder / f"{SUBS[0]}.html").is_file()
    [survivor] = [r for r in m["reports"] if r["subscription_id"] == SUBS[0]]
    assert survivor["ok"]
    assert survivor["attempts"] >= 1


def test_an_unreachable_cluster_is_one_line(tmp_path: Path, demo_snapshots: Path, monkeypatch) -> None:
    from auditkit.errors import AuditkitError

    monkeypatch.setattr("auditkit.render.cluster.CONNECT_TIMEOUT", "2s")
    with pytest.raises(AuditkitError, match=r"cluster tcp://127\.0\.0\.1:9: cannot connect"):
        render(RenderRequest(snapshots_dir=demo_snapshots, out=tmp_path, cluster="tcp://127.0.0.1:9",
                             subscriptions=SUBS[:1], parameters_file=demo_parameters()))
    with pytest.raises(AuditkitError, match=r"cluster http://x: not a Dask scheduler address"):
        render(RenderRequest(snapshots_dir=demo_snapshots, out=tmp_path, cluster="http://x", subscriptions=SUBS[:1],
                             parameters_file=demo_parameters()))
    assert not list(tmp_path.iterdir())  # refused before any work
