"""The bundled policy, refusing prompts that contain "REFUSE" as a real backend refuses bad input
(``ValueError``). A module of its own so Ray workers can import it (they run from the repo root)."""

from prmkit.backends import load_generator


class PickyGenerator:
    def __init__(self) -> None:
        self.inner = load_generator("bundled-policy")
        self.tokenizer = self.inner.tokenizer

    def generate(self, prompts, **kw):
        bad = [i for i, p in enumerate(prompts) if "REFUSE" in p]
        if bad:
            raise ValueError(f"prompt {bad[0]} holds a word this backend refuses")
        return self.inner.generate(prompts, **kw)
