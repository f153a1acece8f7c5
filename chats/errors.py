"""The refusals of the chats app: words a person may read, with the status the API answers."""


class ServiceError(Exception):
    """A request that cannot be carried out as asked; the message is meant for the person."""
