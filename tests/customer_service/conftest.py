"""Tiny original support-bot data for the customer_service tests, and a detector trained once on it."""

import pytest

# Three made-up intents of an online bank, six phrasings each (written for these tests).
TRAIN = {
    "lost_card": [
        "I lost my card", "my card was stolen yesterday", "I can't find my debit card anywhere",
        "block my card, it is missing", "someone took my wallet with my card", "freeze my lost card please",
    ],
    "open_account": [
        "how do I open an account", "I want to sign up for a new account", "what do I need to open a current account",
        "can I create a savings account online", "start a new account for me", "open a joint account with my partner",
    ],
    "interest_rate": [
        "what interest do you pay on savings", "what is the rate on my deposit", "how much interest will I earn",
        "is your savings rate fixed", "current interest rate for the savings pot", "do you pay monthly interest",
    ],
}
VALIDATION = {
    "lost_card": ["my card is gone, please cancel it", "I think I dropped my bank card"],
    "open_account": ["sign me up for an account", "how can I become a customer"],
    "interest_rate": ["what rate do savings earn", "interest on my savings account"],
}
# Questions no bank bot should claim (written for these tests).
OOS_TRAIN = ["what is the capital of peru", "play my workout playlist", "how many legs does a spider have",
             "set an alarm for six tomorrow", "tell me a joke about penguins", "what is the weather in oslo"]
OOS_VALIDATION = ["who painted the mona lisa", "recommend a pasta recipe", "how far away is the moon"]


def flatten(data: dict) -> tuple[list[str], list[str]]:
    return [t for texts in data.values() for t in texts], [label for label, texts in data.items() for _ in texts]


@pytest.fixture(scope="session")
def bot_data():
    from customer_service.intent_files import OUT_OF_SCOPE

    train_texts, train_intents = flatten(TRAIN)
    val_texts, val_intents = flatten(VALIDATION)
    validation = (val_texts + OOS_VALIDATION, val_intents + [OUT_OF_SCOPE] * len(OOS_VALIDATION))
    return {"train": (train_texts, train_intents), "oos_train": OOS_TRAIN, "validation": validation}


@pytest.fixture(scope="session")
def detector(bot_data):
    """Every method fitted on the tiny data, with out-of-scope training and validation examples."""
    from customer_service.oos import OutOfScopeDetector
    from shared.finetune_config import FineTuneConfig

    config = FineTuneConfig(mode="fast", fast_c_grid=(4.0,))
    return OutOfScopeDetector(config=config).fit(*bot_data["train"], bot_data["oos_train"], validation=bot_data["validation"], progress=False)
