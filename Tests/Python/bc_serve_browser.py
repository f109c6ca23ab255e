"""Drives bc-serve's page in headless Chromium (Debian's chromium and chromedriver, no downloads) as a user would.

Signs in with the access token when one is given (a wrong one first, which must be refused). Uploads files through
the file input, then checks the class each BreakHis name gives, the calls that disagree with it and the accuracy
summary against it, the per-patient view (mean and max P, the patient's decision, the filter to one patient's
images), and: one row per file with the probabilities given in the
expected JSON (exactly), the unreadable files' errors in their rows, labels that follow the threshold slider,
sorting by P, the patient summary, the downloaded CSV, and that the page loaded nothing from elsewhere. Saves a
screenshot. Exits non-zero with a message on the first failed check.
"""
import argparse
import csv
import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait


def fail(message):
    print("browser check failed: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def rows(driver):
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('#results tbody tr[data-file]')).map(tr => ({
            file: tr.dataset.file, label: tr.dataset.label, failed: tr.classList.contains('failed'),
            p: tr.querySelector('td.p').dataset.p === undefined ? null : Number(tr.querySelector('td.p').dataset.p),
            shown: tr.querySelector('td.p').textContent, error: tr.querySelector('td.error').textContent,
            badge: (tr.querySelector('td.label .badge') || {}).textContent || '',
            truth: (tr.querySelector('td.truth').firstChild || {}).textContent || '',
            spread: (tr.querySelector('td.spread').firstChild || {}).textContent || '',
            review: !!tr.querySelector('td.spread .badge.review'),
            crops: Array.from(tr.querySelectorAll('td.p .cropmap span')).map(s => Number(s.dataset.p)),
            disagrees: tr.classList.contains('disagrees'), patient: tr.querySelector('td.patient').textContent,
            thumb: !!tr.querySelector('img.thumb') }));""")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--expected", required=True, help="JSON: model, positive, files: {name: p or null}")
    parser.add_argument("--artifacts", required=True)
    parser.add_argument("--token", help="the server's access token: sign in through its form first")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    expected = json.load(open(args.expected))
    downloads = os.path.join(args.artifacts, "downloads")
    os.makedirs(downloads, exist_ok=True)
    for name in os.listdir(downloads):
        os.remove(os.path.join(downloads, name))

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"]:
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": downloads,
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        run(driver, args, expected, downloads)
    finally:
        driver.quit()


def sign_in(driver, wait, token):
    """The page's address answers with the sign-in form until the session has the token."""
    for attempt in ["not-the-token-" + token[::-1], token]:
        wait.until(lambda d: d.find_elements(By.NAME, "token"))
        check(not driver.find_elements(By.ID, "results"), "the page was shown before signing in")
        field = driver.find_element(By.NAME, "token")
        field.send_keys(attempt)
        field.submit()
        if attempt != token:
            wait.until(lambda d: "not this server's access token" in d.page_source)
    wait.until(lambda d: d.find_elements(By.ID, "results"))
    cookie = driver.get_cookie("bc_serve_token")
    check(cookie is not None and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict" and "expiry" not in cookie,
          f"the sign-in cookie is not an HttpOnly, SameSite=Strict session cookie: {cookie}")
    check(driver.execute_script("return document.cookie") == "", "scripts can read the token cookie")


def name_class(file):
    """The class a BreakHis file name gives, or '' for other names."""
    return {"B": "benign", "M": "malignant"}.get(file.split("_")[1], "") if file.startswith("SOB_") else ""


def check_names_and_patients(driver, summary, scored_rows, target):
    table = rows(driver)
    for row in table:
        check(row["truth"] == name_class(row["file"]), f"{row['file']}: 'from name' shows {row['truth']!r}")
        wrong = bool(row["badge"]) and bool(row["truth"]) and row["badge"] != row["truth"]
        check(row["disagrees"] == wrong, f"{row['file']}: disagreement mark {row['disagrees']}, expected {wrong}")
    labelled = [r for r in scored_rows if name_class(r["file"])]
    right = sum(r["badge"] == name_class(r["file"]) for r in labelled)
    patients = {}
    for r in labelled:
        patients.setdefault(r["patient"], []).append(r["badge"] == name_class(r["file"]))
    per_patient = sum(sum(v) / len(v) for v in patients.values()) / len(patients)
    text = driver.find_element(By.ID, "agreement").text
    want = (f"image level {right} of {len(labelled)} right ({100 * right / len(labelled):.1f}%), "
            f"patient level {100 * per_patient:.1f}% over {len(patients)} patients")
    check(want in text, f"the agreement line says {text!r}, expected {want!r}")
    check(any(r["disagrees"] for r in table) or right == len(labelled), "no disagreement marked, yet some calls are wrong")
    for line in summary:
        mine = [r for r in scored_rows if r["patient"] == line[0]]
        if not mine:
            continue
        mean, top = sum(r["p"] for r in mine) / len(mine), max(r["p"] for r in mine)
        check(line[3] == f"{mean:.3f}" and line[4] == f"{top:.3f}", f"patient {line[0]}: mean/max {line[3:5]}, expected {mean:.3f}/{top:.3f}")
        check(line[5] == ("malignant" if mean >= target else "benign"), f"patient {line[0]}: decision {line[5]} at {target}")
    first = summary[0][0]
    driver.find_element(By.CSS_SELECTOR, "#summary tbody tr button.link").click()
    shown = rows(driver)
    check(shown and all(r["patient"] == first for r in shown), f"the filter to patient {first} shows {[r['patient'] for r in shown]}")
    driver.find_element(By.ID, "show-all").click()
    check(len(rows(driver)) == len(table), "'show all patients' does not bring every image back")
    print(f"names: {right} of {len(labelled)} calls agree; patients: {len(patients)}; filter to {first}: {len(shown)} images")


def run(driver, args, expected, downloads):
    wait = WebDriverWait(driver, 60)
    driver.get(args.url)
    if args.token:
        sign_in(driver, wait, args.token)
    wait.until(lambda d: d.find_element(By.ID, "model").text.startswith("Model "))
    check(expected["model"] in driver.find_element(By.ID, "model").text, "the page does not name the model")

    driver.find_element(By.ID, "files").send_keys("\n".join(args.files))
    names = [os.path.basename(f) for f in args.files]
    wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("Done:") and len(rows(d)) == len(names))
    table = rows(driver)
    check([r["file"] for r in table] == names, f"rows {[r['file'] for r in table]} are not the files {names}")

    for row in table:
        want = expected["files"][row["file"]]
        if want is None:
            check(row["error"] and row["failed"] and row["p"] is None and row["badge"] == "",
                  f"{row['file']} should show an error and no probability, shows {row}")
        else:
            check(row["p"] == want, f"{row['file']}: page P {row['p']} != expected {want}")
            check(row["shown"].startswith(f"{want:.3f}"), f"{row['file']}: shows {row['shown']!r} for {want}")
            check(row["badge"] == ("malignant" if want >= 0.5 else "benign"), f"{row['file']}: label {row['badge']} at 0.5")
            check(row["error"] == "" and row["thumb"], f"{row['file']}: unexpected error or no thumbnail: {row}")
    print(f"rows: {len(table)}, errors shown: {[r['file'] for r in table if r['error']]}")

    # Test-time augmentation: each image's spread over its views, and the review flag at the server's spread.
    for row in table:
        spread = expected["spreads"].get(row["file"])
        shown = "" if spread is None else f"{spread:.3f}"
        check(row["spread"] == shown, f"{row['file']}: spread shows {row['spread']!r}, expected {shown!r}")
        flagged = spread is not None and spread >= expected["review_spread"]
        check(row["review"] == flagged, f"{row['file']}: review flag {row['review']}, expected {flagged} (spread {spread})")
    review = sum(r["review"] for r in table)
    status = driver.find_element(By.ID, "status").text
    check((f"{review} flagged for review" in status) == (review > 0), f"status {status!r} with {review} flagged")
    print(f"spreads: {sorted(expected['spreads'].values())}, flagged for review: {review}")

    # Whole images from 2x2 crops: each row's crop map holds its crops' P(malignant), top row first.
    check("2\u00d72 crops" in driver.find_element(By.ID, "model").text, "the model line does not name the crops")
    for row in table:
        check(row["crops"] == expected["crop_maps"].get(row["file"], []), f"{row['file']}: crop map {row['crops']}")

    # The slider: keyboard steps of 0.01 up to a threshold between the scored images' probabilities.
    scores = sorted(p for p in expected["files"].values() if p is not None)
    target = next(round(t / 100, 2) for t in range(51, 100) if sum(p >= 0.5 for p in scores) != sum(p >= t / 100 for p in scores))
    slider = driver.find_element(By.ID, "threshold")
    slider.click()
    slider.send_keys(Keys.HOME)
    for _ in range(round(target * 100)):
        slider.send_keys(Keys.ARROW_RIGHT)
    shown = driver.find_element(By.ID, "threshold-value").text
    check(shown == f"{target:.2f}", f"the slider shows {shown}, expected {target:.2f}")
    changed = 0
    for row, before in zip(rows(driver), table):
        if row["p"] is None:
            continue
        want = "malignant" if row["p"] >= target else "benign"
        check(row["badge"] == want, f"{row['file']} is labelled {row['badge']} at threshold {target}, expected {want}")
        changed += row["badge"] != before["badge"]
    check(changed > 0, "moving the slider changed no label")
    print(f"threshold {target}: {changed} labels changed")

    summary = driver.execute_script("""return Array.from(document.querySelectorAll('#summary tbody tr')).map(tr =>
        Array.from(tr.children).map(td => td.textContent));""")
    scored_rows = [r for r in rows(driver) if r["p"] is not None]
    check(sum(int(r[2]) for r in summary) == len(scored_rows), f"summary counts {summary} do not add up to {len(scored_rows)}")
    called = sum(int(r[6].split(" of ")[0]) for r in summary if r[6])
    check(called == sum(r["p"] >= target for r in scored_rows), f"summary calls {called} malignant at {target}")
    check_names_and_patients(driver, summary, scored_rows, target)

    driver.find_element(By.CSS_SELECTOR, "#results th[data-key=p]").click()
    by_p = [r["p"] for r in rows(driver)]
    scored = [p for p in by_p if p is not None]
    check(scored == sorted(scored, reverse=True) and by_p[-1] is None, f"sorting by P gives {by_p}")
    check_heatmaps(driver, wait)

    driver.find_element(By.ID, "download").click()
    path = os.path.join(downloads, "predictions.csv")
    deadline = time.time() + 20
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.2)
    check(os.path.exists(path), "no predictions.csv was downloaded")
    with open(path, newline="") as handle:
        records = list(csv.reader(handle))
    header = ["file", "patient", "magnification", "p_" + expected["positive"], "label", "model", "error"]
    check(records[0] == header, f"CSV header {records[0]} != {header}")
    check(sorted(r[0] for r in records[1:]) == sorted(names), "CSV rows are not one per file")
    for record in records[1:]:
        want = expected["files"][record[0]]
        check(record[5] == expected["model"], f"CSV model {record[5]}")
        if want is None:
            check(record[3] == "" and record[4] == "" and record[6] != "", f"CSV row of unreadable {record[0]}: {record}")
        else:
            check(record[3] == f"{want:.6f}", f"CSV P {record[3]} != {want:.6f}")
            check(record[4] == ("malignant" if want >= target else "benign"), f"CSV label {record[4]} at {target}")
            check(record[1] != "" and record[2] == "400", f"CSV patient/magnification of {record[0]}: {record}")
    print(f"CSV: {len(records) - 1} rows")

    outside = driver.execute_script("""return performance.getEntriesByType('resource').map(e => e.name)
        .filter(n => !n.startsWith(location.origin) && !n.startsWith('blob:') && !n.startsWith('data:'));""")
    check(outside == [], f"the page loaded resources from elsewhere: {outside}")

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, height + 40))
    driver.save_screenshot(os.path.join(args.artifacts, "bc-serve.png"))
    print("browser check passed")


def check_heatmaps(driver, wait):
    """The first row's Heatmap button asks the server once for the Grad-CAM of the class called at the current
    threshold and lays it over the image; the opacity slider sets its opacity; the button hides and shows it."""
    def heatmap_requests():
        return driver.execute_script("""return performance.getEntriesByType('resource')
            .filter(e => e.name.includes('/api/predict?heatmaps=true')).length;""")
    first = driver.find_element(By.CSS_SELECTOR, "#results tbody tr")
    label = first.find_element(By.CSS_SELECTOR, "td.label .badge").text
    first.find_element(By.CSS_SELECTOR, "button.heatmap-toggle").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results tbody tr:first-child figure.heatmap img.heatmap-layer"))
    layer = driver.find_element(By.CSS_SELECTOR, "#results tbody tr:first-child img.heatmap-layer")
    wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", layer))
    size = driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", layer)
    check(size == [700, 460], f"the heatmap is {size}, not the image's 700x460")
    check(layer.get_attribute("src").startswith("data:image/png;base64,"), "the heatmap is not the server's PNG")
    caption = driver.find_element(By.CSS_SELECTOR, "#results tbody tr:first-child figure.heatmap figcaption").text
    check(caption.startswith(f"Grad-CAM for {label} (layer pool)"), f"caption {caption!r} for a row labelled {label}")
    check(heatmap_requests() == 1, f"{heatmap_requests()} heatmap requests for one toggle")

    slider = driver.find_element(By.ID, "heatmap-opacity")
    check(slider.is_displayed(), "no opacity slider for a model with a heatmap layer")
    slider.click()
    slider.send_keys(Keys.HOME)
    for _ in range(14):
        slider.send_keys(Keys.ARROW_RIGHT)
    opacity = driver.execute_script("return getComputedStyle(arguments[0]).opacity",
                                    driver.find_element(By.CSS_SELECTOR, "img.heatmap-layer"))
    check(abs(float(opacity) - 0.7) < 1e-6, f"heatmap opacity {opacity} after moving the slider to 0.70")

    toggle = lambda: driver.find_element(By.CSS_SELECTOR, "#results tbody tr:first-child button.heatmap-toggle")
    toggle().click()
    check(not driver.find_elements(By.CSS_SELECTOR, "img.heatmap-layer"), "the second click did not hide the heatmap")
    toggle().click()
    shown = driver.find_elements(By.CSS_SELECTOR, "img.heatmap-layer")
    check(len(shown) == 1 and toggle().get_attribute("aria-pressed") == "true", "the third click did not show it again")
    check(abs(float(driver.execute_script("return getComputedStyle(arguments[0]).opacity", shown[0])) - 0.7) < 1e-6,
          "the heatmap shown again lost its opacity")
    check(heatmap_requests() == 1, "showing the heatmap again asked the server again")
    print(f"heatmap: {caption}, opacity {opacity}")


if __name__ == "__main__":
    main()
