"""What an instructor and a student see, in a real headless Chromium at 1280 px:
the class report, feedback pages and the release notebook rendered by nbconvert.

The class (tests/browser/small_class.py) is graded once by the real class command
(sandbox, trusted verdicts, feedback with the course's nbgrader_config.py)."""

import nbformat
import pytest
from browser.conftest import WIDTH, full_screenshot, open_page, pixel_variance
from browser.small_class import PWNED
from nbconvert import HTMLExporter
from selenium.webdriver.common.by import By

from autograder.assignment.contract import ASSIGNMENT, NOTEBOOK
from autograder.preprocessors.feedback_readable import ReadableFeedback
from fixtures.samples import RELEASE_NOTEBOOK

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# What the images must show: not blank (grey-level variance of their pixels).
MIN_VARIANCE = 50.0


def feedback_page(course, student):
    return course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"


def no_horizontal_overflow(driver):
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= WIDTH, f"page is {width} px wide at a {WIDTH} px window"


def images_loaded_and_not_blank(driver, selector):
    images = driver.find_elements(By.CSS_SELECTOR, selector)
    for img in images:
        natural = driver.execute_script(
            "return [arguments[0].complete, arguments[0].naturalWidth]", img
        )
        assert natural[0] and natural[1] > 0, f"image not loaded: {img.get_attribute('alt')}"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
        variance = pixel_variance(img.screenshot_as_png)
        assert variance > MIN_VARIANCE, f"blank image {img.get_attribute('alt')}: {variance:.1f}"
    return images


def test_report_attention_first_reason_visible_plots_drawn(browser, small_class, shots):
    course, code, _ = small_class
    assert code == 1  # the missing notebook and the stranger need the instructor
    open_page(browser, course / "reports" / "index.html")
    no_horizontal_overflow(browser)
    rows = browser.find_elements(By.CSS_SELECTOR, "#students tr[data-student]")
    flags = ["attention" in (r.get_attribute("class") or "") for r in rows]
    n_attention = sum(flags)
    assert n_attention >= 3 and flags == [True] * n_attention + [False] * (len(flags) - n_attention)
    attention = {r.get_attribute("data-student"): r for r in rows[:n_attention]}
    assert {"s002", "s006", "s099"} <= set(attention)
    for row in attention.values():
        reason = row.find_element(By.CSS_SELECTOR, "td.reason")
        box = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", reason)
        assert reason.is_displayed() and reason.text.strip()
        assert box["left"] >= 0 and box["right"] <= WIDTH, box
    assert "untouched" in attention["s002"].text and "Борис Петров" in attention["s002"].text
    assert "missing notebook" in attention["s006"].text
    assert "not on the roster" in attention["s099"].text
    plots = images_loaded_and_not_blank(browser, ".plots img")
    assert len(plots) == 4
    assert "lateness cannot be judged" in browser.find_element(By.CSS_SELECTOR, ".warning").text
    full_screenshot(browser, shots / "h5-report-1280.png")

    # the feedback link of a student opens that student's feedback
    link = browser.find_element(By.CSS_SELECTOR, "tr[data-student='s003'] a[href*='feedback']")
    link.click()
    assert browser.current_url.endswith("/feedback/s003/one_neuron/one_neuron.html")
    assert "Score: 6" in browser.find_element(By.TAG_NAME, "h4").text


def test_feedback_messages_wrap_and_formulas_render(browser, small_class, shots):
    course, _, _ = small_class
    open_page(browser, feedback_page(course, "s003"))
    no_horizontal_overflow(browser)
    errors = browser.find_elements(By.CSS_SELECTOR, "div.output_error pre")
    assert errors, "the failing backprop check shows no message"
    for pre in errors:
        sizes = browser.execute_script(
            "return [arguments[0].scrollWidth, arguments[0].clientWidth]", pre
        )
        assert sizes[0] <= sizes[1], f"message cut off at the box's edge: {sizes}"
    message = next(p for p in errors if "градиентного" in p.text)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", message)
    assert "перепутан знак" in message.text  # the end of the long message is on screen
    browser.save_screenshot(str(shots / "h5-feedback-message.png"))
    formulas = images_loaded_and_not_blank(browser, "img.tex")
    assert len(formulas) >= 50
    text = browser.find_element(By.CSS_SELECTOR, "#notebook").text
    assert "\\frac" not in text and "$" not in text.replace("$ ", "")
    heading = browser.find_element(By.XPATH, "//h2[contains(., 'Обратное')]")
    browser.execute_script("arguments[0].scrollIntoView()", heading)
    browser.save_screenshot(str(shots / "h5-feedback-formulas.png"))


def test_feedback_shows_the_plots(browser, small_class, shots):
    """Depends on inline plots in the sandboxed kernel (helper H3, issue 9 item 2):
    the two plot cells of the notebook come back as image/png outputs."""
    course, _, _ = small_class
    open_page(browser, feedback_page(course, "s001"))
    plots = images_loaded_and_not_blank(browser, "div.output_png img")
    assert len(plots) >= 2, "the feedback shows no plot (image/png outputs missing)"
    browser.execute_script("arguments[0].scrollIntoView()", plots[0])
    browser.save_screenshot(str(shots / "h5-feedback-plots.png"))


def test_active_content_of_a_student_does_not_run(browser, small_class, shots):
    course, _, results = small_class
    assert next(r for r in results if r.student_id == "s005").score == 10
    page = feedback_page(course, "s005")
    open_page(browser, page)
    assert browser.title != PWNED
    scripts = browser.execute_script(
        "return [...document.scripts].map(s => s.textContent).filter(t => t.includes(arguments[0]))",
        PWNED,
    )
    handlers = browser.execute_script(
        "return [...document.querySelectorAll('[onerror],[onload],[onclick]')].length"
    )
    assert scripts == [] and handlers == 0
    # the student's added cells are on the page, as inert text
    assert f"document.title = '{PWNED}'" in browser.find_element(By.TAG_NAME, "body").text
    full_screenshot(browser, shots / "h5-feedback-active-content.png")
    browser.get((course / "reports" / "index.html").as_uri())
    assert browser.title != PWNED


@pytest.fixture(scope="module")
def release_pages(tmp_path_factory):
    """The release notebook as plain ``jupyter nbconvert --to html`` makes it, and
    with the feedback's ReadableFeedback step."""
    nb = nbformat.read(RELEASE_NOTEBOOK, as_version=4)
    folder = tmp_path_factory.mktemp("release_html")
    plain, _ = HTMLExporter().from_notebook_node(nb)
    (folder / "plain.html").write_text(plain, encoding="utf-8")
    exporter = HTMLExporter()
    exporter.register_preprocessor(ReadableFeedback())
    readable, _ = exporter.from_notebook_node(nb)
    (folder / "readable.html").write_text(readable, encoding="utf-8")
    return nb, folder


def test_release_notebook_rendered_by_nbconvert(browser, release_pages, shots):
    nb, folder = release_pages
    open_page(browser, folder / "plain.html")
    no_horizontal_overflow(browser)
    code_cells = browser.find_elements(By.CSS_SELECTOR, ".jp-CodeCell")
    assert len(code_cells) == sum(c.cell_type == "code" for c in nb.cells)
    title = browser.find_element(By.TAG_NAME, "h1")
    assert title.is_displayed() and "нейрон" in title.text
    assert pixel_variance(browser.get_screenshot_as_png()) > MIN_VARIANCE
    full_screenshot(browser, shots / "h5-release-nbconvert.png")
    # offline, plain nbconvert leaves the TeX as text (MathJax comes from a CDN) ...
    assert "\\frac" in browser.find_element(By.TAG_NAME, "body").text
    # ... the readable rendering draws every formula
    open_page(browser, folder / "readable.html")
    no_horizontal_overflow(browser)
    assert len(images_loaded_and_not_blank(browser, "img.tex")) >= 50
    assert "\\frac" not in browser.find_element(By.TAG_NAME, "body").text
