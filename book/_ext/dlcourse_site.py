"""Sphinx extension for the course site.

- The Colab launch button opens the student release ``notebooks/<chapter>/<chapter>.ipynb``,
  not the solution notebook the chapter page is built from.
- Pages with widgets tell require.js where the vendored html-manager lives, so the fonts it
  loads beside itself come from ``_static/html-manager`` (not a folder relative to the page).
"""

REQUIRE_CONFIG = (
    "var require = {paths: {'@jupyter-widgets/html-manager/dist': "
    "document.documentElement.dataset.content_root + '_static/html-manager'}};"
)


def retarget_colab(app, pagename, templatename, context, doctree):
    """Rewrite the Colab button's ``/solutions/`` path to ``/notebooks/``."""
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            if button.get("text") == "Colab":
                button["url"] = button["url"].replace("/solutions/", "/notebooks/", 1)


def configure_require(app, pagename, templatename, context, doctree):
    """Before require.js loads (priority 500), give it the html-manager's location."""
    if any("embed-amd.js" in (js.filename or "") for js in context.get("script_files", [])):
        app.add_js_file(None, body=REQUIRE_CONFIG, priority=499)


def setup(app):
    """Run after sphinx-book-theme (501) and myst-nb (500) have added buttons and scripts."""
    app.connect("html-page-context", retarget_colab, priority=502)
    app.connect("html-page-context", configure_require, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
