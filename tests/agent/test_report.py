"""``matterloop report`` on a real two-round campaign (shipped generator, real CHGNet, real local
Ray, a real MLflow server): the page is self-contained, its table and pictures match the
campaign's front, and it renders in a real headless Chromium (Debian's chromium and
chromium-driver, driven through Selenium; ``install/chromium.sh`` installs them)."""

from __future__ import annotations

import base64
import io
import shutil

import lxml.html
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from pymatgen.core import Structure

from matterloop.agent.campaign.config import ObjectiveConfig
from matterloop.agent.campaign.labels import campaign_hull, label_table
from matterloop.agent.campaign.pareto import front_table, hypervolume_trace
from matterloop.agent.campaign.store import CampaignStore
from matterloop.agent.cli import main
from matterloop.agent.cli.campaign import stored_config
from matterloop.generator.evaluation import Novelty
from tests.agent.conftest import campaign_config, write_config

EXPERIMENT = "report"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, mlflow_server):
    """A finished two-round campaign (3 picks a round, E_hull up to 2 eV/atom is feasible, so
    that the front has several members; with seed 0 and the 45,500-step generator one structure
    dominated the other five) and its report written by the command line."""
    root = tmp_path_factory.mktemp("report")
    directory = root / "campaign"
    config = campaign_config(
        directory,
        constraints=[{"name": "e_above_hull", "max": 2.0}],
        acquisition={"q": 3, "initial_labels": 100},
        budget={"rounds": 2},
        seed=1,
        tracking={"enabled": True, "tracking_uri": mlflow_server, "experiment": EXPERIMENT},
    )
    assert main(["run", str(write_config(root / "c.yaml", config))]) == 0
    report = root / "out" / "report.html"
    assert main(["report", str(directory), "--out", str(report)]) == 0
    return directory, report


@pytest.fixture(scope="module")
def front(campaign) -> pd.DataFrame:
    """The campaign's Pareto front, computed here from the stored labels."""
    directory, _ = campaign
    config = stored_config(directory)
    table = label_table(CampaignStore(directory).evaluations(), config, campaign_hull(config))
    front = front_table(table, config.objectives)
    assert len(front) >= 2, "the test campaign should have a front of several structures"
    return front


def decoded(uri: str, media_type: str) -> bytes:
    prefix = f"data:{media_type};base64,"
    assert uri.startswith(prefix), uri[:60]
    return base64.b64decode(uri[len(prefix) :], validate=True)


def test_report_is_one_self_contained_page(campaign, front):
    directory, report = campaign
    page = lxml.html.fromstring(report.read_bytes())
    urls = [
        value
        for element in page.iter()
        for name, value in element.attrib.items()
        if name in {"src", "href", "srcset", "action", "data"}
    ]
    assert urls and all(url.startswith("data:") for url in urls), [u[:60] for u in urls]
    assert not page.xpath("//link[@rel='stylesheet'] | //script[@src] | //iframe")
    assert "url(" not in "".join(page.xpath("//style/text()"))
    images = page.xpath("//img/@src")
    assert len(images) == 2 + len(front)  # Pareto plot, hypervolume plot, one per member
    for uri in images:
        picture = Image.open(io.BytesIO(decoded(uri, "image/png")))
        assert picture.format == "PNG" and min(picture.size) > 10
    pre = page.xpath("//pre")[0].text_content()
    assert pre == (directory / "config.yaml").read_text()


def test_front_table_lists_every_member_with_its_cif(campaign, front):
    directory, report = campaign
    page = lxml.html.fromstring(report.read_bytes())
    rows = page.xpath("//table[@id='front']/tbody/tr")
    assert [row.xpath("td[2]")[0].text_content() for row in rows] == list(front["id"])
    header_cells = page.xpath("//table[@id='front']/thead/tr/th")
    headers = [th.find_class("label")[0].text_content() for th in header_cells]
    units = {
        header: "".join(th.xpath("span[@class='unit']/text()"))
        for header, th in zip(headers, header_cells, strict=True)
    }
    assert units["magnetic density ↑"] == "µB/Å³" and units["e above hull"] == "eV/atom"
    relaxed = {e.id: e.result.structure for e in CampaignStore(directory).evaluations()}
    for row, (_, member) in zip(rows, front.iterrows(), strict=True):
        cells = {
            header: td.text_content() for header, td in zip(headers, row.xpath("td"), strict=True)
        }
        assert cells["formula"] == member["formula"]
        assert cells["oracle"] == "chgnet"
        # judged on the relaxed structure, against MP-20 and the campaign's earlier labels
        assert cells["novelty"] == member["novelty"] in {n.value for n in Novelty}
        assert float(cells["hhi production ↓"]) == pytest.approx(member["hhi_production"], rel=1e-3)
        (link,) = row.xpath(".//a[@download]")
        assert link.get("download") == f"{member['id']}_{member['formula']}.cif"
        cif = decoded(link.get("href"), "chemical/x-cif").decode()
        structure = Structure.from_str(cif, fmt="cif")
        assert structure.composition == relaxed[member["id"]].composition
        assert cells["space group"].endswith(")")


def test_rounds_and_hypervolume_plots_are_logged_to_mlflow(campaign, mlflow_server):
    directory, _ = campaign
    client = MlflowClient(mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    for number in (0, 1):
        paths = {a.path for a in client.list_artifacts(run.info.run_id, f"round_{number:04d}")}
        assert f"round_{number:04d}/hypervolume.png" in paths
    assert "report.html" in {a.path for a in client.list_artifacts(run.info.run_id)}
    logged = client.download_artifacts(run.info.run_id, "report.html", str(directory.parent))
    page = lxml.html.parse(logged).getroot()
    assert len(page.xpath("//table[@id='rounds']/tbody/tr")) == 2


def test_report_help():
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--help"])
    assert exit_info.value.code == 0


def test_report_of_a_missing_campaign_names_it(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a campaign directory" in capsys.readouterr().err


def test_report_of_a_campaign_without_results(tmp_path):
    directory = tmp_path / "campaign"
    config = campaign_config(directory)
    config.pop("directory")
    CampaignStore(directory).open(config)
    assert main(["report", str(directory)]) == 0
    page = lxml.html.parse(directory / "report.html").getroot()
    assert page.xpath("//table[@id='front']/tbody/tr") == []
    assert "No feasible structure yet." in page.find_class("note")[0].text_content()
    assert len(page.xpath("//img")) == 2


def test_hypervolume_trace_follows_the_oracle_calls():
    objectives = (
        ObjectiveConfig(name="magnetic_density", direction="maximize", reference=0.0),
        ObjectiveConfig(name="hhi_production", direction="minimize", reference=10000),
    )
    table = pd.DataFrame(
        {
            "magnetic_density": [0.10, 0.50, 0.05, 0.04],
            "hhi_production": [2000.0, 500.0, 1000.0, 3000.0],
            "feasible": [True, False, True, True],
        }
    )
    # 0.10 * 8000; the infeasible label adds nothing; + 0.05 * 1000; the last is dominated.
    assert hypervolume_trace(table, objectives).tolist() == pytest.approx([800, 800, 850, 850])


@pytest.fixture
def browser():
    """Headless Chromium through chromedriver, recording the console."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.fail(
            "this test needs Debian's chromium and chromium-driver on PATH; install them with "
            "install/chromium.sh"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("this test needs selenium: pip install -e '.[dev]'")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1600")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


def column_keys(driver, column: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#front tbody tr'))"
        ".map(r => r.cells[arguments[0]].dataset.sort)",
        column,
    )


def test_report_renders_in_chromium(campaign, front, browser, tmp_path):
    _, report = campaign
    browser.get(report.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)"
    )
    assert len(widths) == 2 + len(front) and all(w > 0 for w in widths), widths
    assert browser.execute_script("return document.querySelectorAll('#front tbody tr').length") == (
        len(front)
    )

    headers = browser.find_elements("css selector", "#front thead th")
    labels = [h.text.split("\n")[0] for h in headers]
    column = next(i for i, label in enumerate(labels) if label.startswith("magnetic density"))
    shown = [float(k) for k in column_keys(browser, column)]
    assert shown == sorted(shown, reverse=True)  # the page lists the front best first
    headers[column].click()
    assert [float(k) for k in column_keys(browser, column)] == sorted(shown)
    assert headers[column].get_attribute("aria-sort") == "ascending"
    headers[column].click()
    assert [float(k) for k in column_keys(browser, column)] == sorted(shown, reverse=True)
    formula = labels.index("formula")
    headers[formula].click()
    assert column_keys(browser, formula) == sorted(front["formula"])

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    browser.execute_script("console.error('probe')")  # the console is really recorded
    assert any("probe" in e["message"] for e in browser.get_log("browser"))

    screenshot = tmp_path / "report.png"
    assert browser.save_screenshot(str(screenshot))
    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=float)
    assert pixels.shape[1] >= 1000 and pixels.std() > 20


def test_status_numbers_keep_three_digits_in_six_characters():
    """`matterloop status` shows hypervolumes of any magnitude without cutting them off."""
    from matterloop.agent.cli.campaign import compact

    values = (0.179, 63.3, 999.6, 1330.0, 18000.0, 2.5e6, -1500.0)
    shown = [compact(v) for v in values]
    assert shown == ["0.179", "63.3", "1k", "1.33k", "18k", "2.5M", "-1.5k"]
    assert max(len(s) for s in shown) <= 6
