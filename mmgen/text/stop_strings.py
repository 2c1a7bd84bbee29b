"""TEMPORARY stub."""
class StopStringMatcher:
    def __init__(self, tokenizer, stop_strings, prompt_length):
        raise NotImplementedError
