"""Signed download links made with the app's signer (the signing itself is `portal.storage.links`)."""

from __future__ import annotations

from flask import current_app

from portal.storage.links import LinkSigner, signed_link, signer_for


def link_signer() -> LinkSigner:
    """The app's signer (in a development run without WTF_PORTAL_KEY, with the kept key)."""
    return signer_for(current_app.extensions["runtime"].settings, current_app.config["PORTAL_KEY"])


def signed_download_url(filename: str) -> str:
    """The signed link of an output file, with this app's signer."""
    return signed_link(link_signer(), filename)
