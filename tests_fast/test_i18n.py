"""The addon's translations: French covers every term of the .pot, so that a term added without
its French shows up here rather than in English on a French customer's page or email."""

import polib
from conftest import ADDON_PATH

I18N = ADDON_PATH / "i18n"


def test_french_translates_every_term_of_the_pot():
    french = polib.pofile(str(I18N / "fr.po"))
    translated = {entry.msgid for entry in french if entry.msgstr and "fuzzy" not in entry.flags}
    pot = polib.pofile(str(I18N / "komet_paylink.pot"))
    assert [entry.msgid for entry in pot if entry.msgid not in translated] == []
