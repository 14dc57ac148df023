"""What a PDF holds, as poppler-utils reads it: its page count (the demo's own reading) and each page's text."""

import subprocess
import unicodedata

from tools.demo_results import pdf_pages  # noqa: F401  (the tests' reading is the demo's)


def page_texts(path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return unicodedata.normalize("NFKC", text).split("\f")[:-1]  # ligatures (ﬁ) as letters
