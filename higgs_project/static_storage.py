"""Static files as collectstatic writes them: our own script and stylesheet minified (rjsmin, rcssmin), then
hashed and compressed by servestatic as before. Third-party files (htmx, the admin's) are left as they come."""

from django.core.files.base import ContentFile
from rcssmin import cssmin
from rjsmin import jsmin
from servestatic.storage import CompressedManifestStaticFilesStorage

# Our own files, as named under static/: everything else is someone else's, already minified or not ours to touch.
OWN = ("js/", "css/")


def minified(name: str, text: str) -> str | None:
    """The minified text of one of our own .js or .css files, or None for any other file."""
    if not name.startswith(OWN) or ".min." in name:
        return None
    if name.endswith(".js"):
        return jsmin(text)
    if name.endswith(".css"):
        return cssmin(text)
    return None


class MinifiedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def _save(self, name, content):
        if name.endswith((".js", ".css")) and name.startswith(OWN):
            content.seek(0)  # the manifest reads a file to hash it before it saves the hashed copy
            text = minified(name, content.read().decode("utf-8"))
            content.seek(0)
            if text is not None:
                content = ContentFile(text.encode("utf-8"))
        return super()._save(name, content)
