"""What an option card reads besides the option: the models it may use with their prices, the person's balance,
and the controls a model's parameter schema offers (aspect ratio, duration, ...), pre-set from the option.

A page reads the models and the balance once (CardReads), however many cards it shows.
"""

from dataclasses import dataclass, field

from generation.credits import credits_balance, generation_price
from generation.model_catalogue import model_list
from generation.model_schema import parameters_schema

# The settings a card offers, in this order, with their names on it; a model shows only those it has.
CONTROLS = {
    "aspect_ratio": "Aspect",
    "duration": "Duration",
    "resolution": "Resolution",
    "num_images": "Images",
    "batch_size": "Images",
    "seed": "Seed",
}


@dataclass
class Control:
    """One setting on a card: a select of the schema's values, or a number within its range."""

    name: str
    label: str
    value: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, words); empty for a number
    minimum: int | None = None
    maximum: int | None = None


def _text(value) -> str:
    return "" if value is None else str(value)


def _same(given, allowed) -> bool:
    """A value as an option or a form holds it, against one of a schema's: "720p" is "720", "768p" is "768P"."""
    a, b = _text(given).strip().lower(), _text(allowed).lower()
    return a == b or (a.removesuffix("p") == b.removesuffix("p") and a.removesuffix("p") != "")


def _choice_words(name: str, value) -> str:
    return f"{value} s" if name == "duration" else _text(value)


def model_controls(model, wanted: dict) -> list[Control]:
    """The controls of a model's schema, each set to the wanted value where the model takes it, else its default."""
    props = parameters_schema(model.input_schema)["properties"]
    controls = []
    for name, label in CONTROLS.items():
        prop = props.get(name)
        if prop is None:
            continue
        given = wanted.get(name)
        if prop.get("enum"):
            enum = prop["enum"]
            value = next((v for v in enum if given is not None and _same(given, v)), prop.get("default", enum[0]))
            choices = [(_text(v), _choice_words(name, v)) for v in enum]
            controls.append(Control(name, label, _text(value), choices))
        elif prop.get("type") == "integer":
            low, high = prop.get("minimum"), prop.get("maximum")
            value = prop.get("default") if name != "seed" else None  # no seed: a new one each time
            if given is not None and _text(given).strip().lstrip("-").isdigit():
                number = int(_text(given).strip())
                if (low is None or number >= low) and (high is None or number <= high):
                    value = number
            controls.append(Control(name, label, _text(value), minimum=low, maximum=high))
    return controls


def parameters_from_form(model, data) -> dict:
    """The card's settings as the model's schema types them; a value that fits no type is passed on as written,
    for the service's check to refuse in words. Empty fields are left to the option and the model."""
    props = parameters_schema(model.input_schema)["properties"]
    parameters = {}
    for name in CONTROLS:
        raw = _text(data.get(name)).strip()
        if name not in props or not raw:
            continue
        prop = props[name]
        if prop.get("enum"):
            parameters[name] = next((v for v in prop["enum"] if _text(v) == raw), raw)
        elif prop.get("type") == "integer" and raw.lstrip("-").isdigit():
            parameters[name] = int(raw)
        else:
            parameters[name] = raw
    return parameters


WORDS_ORDER = {
    name: place
    for place, name in enumerate(("aspect_ratio", "duration", "resolution", "num_images", "batch_size", "seed"))
}


def parameters_words(parameters: dict) -> str:
    """An option's settings in words, always in the same order: "9:16 · 10 s · 1080p" (PostgreSQL keeps a JSON
    object's keys in its own order, so the stored order says nothing)."""
    words = []
    given = parameters or {}
    for name in sorted(given, key=lambda name: WORDS_ORDER.get(name, len(WORDS_ORDER))):
        value = given[name]
        if value is None or value == "":
            continue
        if name == "aspect_ratio":
            words.append(_text(value))
        elif name == "duration":
            words.append(f"{value} s")
        elif name == "resolution":
            text = _text(value)
            words.append(f"{text}p" if text.isdigit() else text.lower() if text.endswith("P") else text)
        elif name in ("num_images", "batch_size") and _text(value) != "1":
            words.append(f"{value} images")
        elif name == "seed":
            words.append(f"seed {value}")
    return " · ".join(words)


def price_refusal(price: int, balance: int) -> str:
    """Why a button is off: '' when the balance pays the price."""
    return f"Needs {price} credit{'s' if price != 1 else ''}; you have {balance}." if price > balance else ""


class CardReads:
    """The models, prices and balance the cards of one page share (its option cards, its generations' "Another
    take" and its composer): two queries, however many cards, each made only when something needs it."""

    def __init__(self, user):
        self.user = user
        self._models = None
        self._prices: dict[str, int] = {}
        self._balance = None

    @property
    def models(self) -> dict:
        if self._models is None:
            self._models = {m.name: m for m in model_list()}
        return self._models

    def models_of(self, kind: str) -> list:
        return [m for m in self.models.values() if m.kind == kind]

    def model(self, key: str):
        return self.models.get(key)

    def price(self, key: str) -> int:
        if key not in self._prices:
            # A model switched off since is not among the models: generation_price reads it by name, once.
            self._prices[key] = generation_price(model_key=key, model=self.models.get(key))
        return self._prices[key]

    @property
    def balance(self) -> int:
        if self._balance is None:
            self._balance = credits_balance(user=self.user)
        return self._balance


@dataclass
class Card:
    """What one option card shows for a model: the models to pick from, the controls, the price and the refusal."""

    option: object
    models: list
    model: object
    controls: list[Control]
    price: int
    balance: int
    refusal: str
    words: str


def option_card(reads: CardReads, option, *, model_key: str = "", wanted: dict | None = None) -> Card:
    """The card of an option drawn with a model (the option's own unless another is asked for), its controls
    set to `wanted` where that model takes them, else to the option's parameters."""
    models = reads.models_of(option.kind)
    model = reads.model(model_key) if model_key else None
    if model is None or model.kind != option.kind:
        model = reads.model(option.model_key) or (models[0] if models else None)
    key = model.name if model is not None else option.model_key
    wanted = {**(option.parameters or {}), **(wanted or {})}
    controls = model_controls(model, wanted) if model is not None else []
    price, balance = reads.price(key), reads.balance
    return Card(
        option=option,
        models=models,
        model=model,
        controls=controls,
        price=price,
        balance=balance,
        refusal=price_refusal(price, balance),
        words=parameters_words(option.parameters),
    )
