# Sphinx configuration of the course site; `make book` (python -m sparsekit.course.book) stages this folder
# with the notebooks and the claims report under build/book/src and builds it from there.
from pathlib import Path

project = "Sparse neural networks: the sparsekit notebooks"
author = "the sparsekit maintainers"
copyright = "the sparsekit maintainers, MIT licence"

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the committed notebooks are shown as executed; nothing runs here
nb_merge_streams = True
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
suppress_warnings = ["mystnb.unknown_mime_type"]

# MathJax from a local copy when the builder fetched one (offline site, no CDN in the way)
if (Path(__file__).parent / "_static" / "mathjax" / "tex-svg.js").exists():
    mathjax_path = "mathjax/tex-svg.js"
html_static_path = ["_static"] if (Path(__file__).parent / "_static").exists() else []
html_css_files = ["custom.css"]  # wide tables and code scroll inside their box

# Where the repository is published: the Binder launch buttons and the source links use it.
REPOSITORY = "sparsekit/sparsekit-notebooks"
html_theme = "sphinx_book_theme"
html_title = "Sparse neural networks"
html_theme_options = {
    "repository_url": f"https://github.com/{REPOSITORY}",
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
}
html_last_updated_fmt = None
# an explicit colour mode: with none set, the theme logs "Got invalid theme mode" as a console error
html_context = {"default_mode": "light"}
html_favicon = "_static/favicon.svg"  # without one, browsers ask for /favicon.ico and get a 404
