def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about four characters a token in English).

    Used where no exact tokenizer exists offline: cloud vendors that send no
    usage, and routing before a model is chosen. Ledger rows say when a count
    is an estimate.
    """
    return (len(text) + 3) // 4
