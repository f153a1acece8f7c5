"""Files go with their chat: deleting a chat removes its attachments' files from storage."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from chats import services
from chats.models import Attachment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_deleting_a_chat_deletes_its_files(alice):
    chat = services.chat_create(owner=alice, title="with files")
    attachment = Attachment(owner=alice, chat=chat, kind="image", mime="image/png", size_bytes=3)
    attachment.file.save("pic.png", ContentFile(b"png"), save=True)
    name = attachment.file.name
    assert default_storage.exists(name)
    services.chat_delete(chat=chat)
    assert not Attachment.objects.exists()
    assert not default_storage.exists(name)


def test_a_file_of_another_chat_stays(alice):
    keep = services.chat_create(owner=alice, title="keep")
    drop = services.chat_create(owner=alice, title="drop")
    kept = Attachment(owner=alice, chat=keep, kind="image", mime="image/png")
    kept.file.save("keep.png", ContentFile(b"k"), save=True)
    dropped = Attachment(owner=alice, chat=drop, kind="image", mime="image/png")
    dropped.file.save("drop.png", ContentFile(b"d"), save=True)
    services.chat_delete(chat=drop)
    assert default_storage.exists(kept.file.name)
    assert not default_storage.exists(dropped.file.name)
