"""PRM families as data: one ``PRMSpec`` says how a PRM reads a solution and where its score is.

Every stage (scoring, training, search, serving) renders text and reads scores through the same
spec, so a model trained by prmkit scores correctly with no glue. A family is a builder of a few
lines; token ids are never written down: the scorer looks the strings up in the loaded tokenizer
and checks that each is exactly one token (the ``" +"`` vs ``"+"`` bug class).

Rendering, with ``k`` the 1-based step number::

    template="plain": question + question_separator + Σ(step_prefix.format(k=k) + step + step_tag + step_separator)
    template="chat":  tokenizer.apply_chat_template([system?, user: question,
                                                      assistant: Σ(step_prefix + step + step_tag + step_separator)])
    template="chat_turns": one user turn per step (the first one carries the question), each answered by
                      an assistant turn holding the positive label word (RLHFlow)

The score of step ``k`` is read at the last token of its ``step_tag`` (for ``chat_turns``: at the
token just before the assistant's label word). Heads:

* ``token_cls``: an N-way token-classification head; softmax, probability of class ``positive_index``.
* ``lm_words``:  the LM head's logits of ``label_words = (positive, negative)``; softmax over the two.
* ``value``:     one scalar per token; ``sigmoid`` (or identity) of it.
* ``implicit``:  an implicit PRM (Yuan et al. 2024, "Free Process Rewards without Process Labels"): a causal
                 LM and its ``reference``; the score of step ``k`` is ``sigmoid(q_k)`` with
                 ``q_k = beta * Σ log(pi(y_t) / pi_ref(y_t))`` over the solution's tokens up to step ``k``'s tag.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from ..registry import resolve

__all__ = ["PRMSpec", "FAMILIES", "HUB_PRESETS", "get_spec", "SPEC_FILE"]

SPEC_FILE = "prmkit_spec.json"  # written next to a saved model so that it carries its spec
Head = Literal["token_cls", "lm_words", "value", "implicit"]
Template = Literal["plain", "chat", "chat_turns"]


@dataclass(frozen=True)
class PRMSpec:
    """How a PRM renders a problem and its steps, and which head output is the step score.

    Args:
        name (`str`): family name (``qwen2.5-math-prm``...).
        head (`"token_cls" | "lm_words" | "value" | "implicit"`): what to read, see the module docstring.
        step_tag (`str`): appended to every step; the score is read at its last token.
        template (`"plain" | "chat" | "chat_turns"`, defaults to `"plain"`): how the text is built.
        question_separator (`str`, defaults to `"\\n\\n"`): between question and first step (plain).
        step_prefix (`str`, defaults to `""`): before each step; ``{k}`` is the 1-based step number.
        step_separator (`str`, defaults to `""`): after each step's tag.
        system_prompt (`str`, *optional*): system message for chat templates.
        label_words (`tuple[str, str]`, *optional*): positive and negative words for ``lm_words`` and
            ``chat_turns``.
        positive_index (`int`, defaults to 1): the "correct" class of a ``token_cls`` head.
        value_activation (`"sigmoid" | "identity"`, defaults to `"sigmoid"`): for ``value`` heads.
        auto_class (`str`, defaults to `"AutoModelForTokenClassification"`): transformers class to load.
        beta (`float`, defaults to 0.05): the implicit PRM's reward scale.
        reference (`str`, *optional*): the implicit PRM's reference model: a folder relative to the model
            folder (the trainer saves it as ``reference``), an absolute folder, or a hub id.
        trust_remote_code (`bool`, defaults to `False`): needed by models that ship their own head code.
        model_id (`str`, *optional*): the reference checkpoint on the Hugging Face hub.
    """

    name: str
    head: Head
    step_tag: str
    template: Template = "plain"
    question_separator: str = "\n\n"
    step_prefix: str = ""
    step_separator: str = ""
    system_prompt: Optional[str] = None
    label_words: Optional[tuple[str, str]] = None
    positive_index: int = 1
    value_activation: Literal["sigmoid", "identity"] = "sigmoid"
    auto_class: str = "AutoModelForTokenClassification"
    trust_remote_code: bool = False
    model_id: Optional[str] = None
    beta: float = 0.05
    reference: Optional[str] = None

    def __post_init__(self) -> None:
        if self.head not in ("token_cls", "lm_words", "value", "implicit"):
            raise ValueError(f"unknown head {self.head!r}")
        if self.template not in ("plain", "chat", "chat_turns"):
            raise ValueError(f"unknown template {self.template!r}")
        if (self.head == "lm_words" or self.template == "chat_turns") and not self.label_words:
            raise ValueError(f"spec {self.name!r}: head 'lm_words' and template 'chat_turns' need label_words")
        if self.template != "chat_turns" and not self.step_tag:
            raise ValueError(f"spec {self.name!r}: step_tag must not be empty")
        if self.head == "implicit" and (not self.reference or self.auto_class != "AutoModelForCausalLM"):
            raise ValueError(f"spec {self.name!r}: an implicit PRM is an AutoModelForCausalLM with a reference model")
        if self.label_words is not None:
            object.__setattr__(self, "label_words", tuple(self.label_words))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PRMSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown PRMSpec field(s): {', '.join(unknown)}")
        return cls(**data)

    def save(self, folder: str | Path) -> Path:
        """Write ``prmkit_spec.json`` into a model folder."""
        path = Path(folder) / SPEC_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


QWEN_MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


def qwen2_5_math_prm(size: str = "7B") -> PRMSpec:
    """Qwen2.5-Math-PRM-7B/72B: chat template, ``<extra_0>`` after each step, 2-way head (class 1 = correct)."""
    return PRMSpec(name=f"qwen2.5-math-prm-{size.lower()}", head="token_cls", step_tag="<extra_0>", template="chat",
                   system_prompt=QWEN_MATH_SYSTEM, auto_class="AutoModel", trust_remote_code=True,
                   model_id=f"Qwen/Qwen2.5-Math-PRM-{size}")


def qwen2_5_math_7b_prm800k() -> PRMSpec:
    """Qwen2.5-Math-7B-PRM800K: the same reading as Qwen2.5-Math-PRM, trained on PRM800K."""
    return dataclasses.replace(qwen2_5_math_prm("7B"), name="qwen2.5-math-7b-prm800k", model_id="Qwen/Qwen2.5-Math-7B-PRM800K")


def math_shepherd() -> PRMSpec:
    """Math-Shepherd-Mistral-7B: ``{question} Step 1: ... ки\\nStep 2: ... ки``, LM logits of "+" vs "-"."""
    return PRMSpec(name="math-shepherd", head="lm_words", step_tag=" ки", question_separator=" ",
                   step_prefix="Step {k}: ", step_separator="\n", label_words=("+", "-"),
                   auto_class="AutoModelForCausalLM", model_id="peiyi9979/math-shepherd-mistral-7b-prm")


def rlhflow_llama31_8b(data: str = "Deepseek") -> PRMSpec:
    """RLHFlow Llama3.1-8B-PRM-{Deepseek,Mistral}-Data: one user turn per step, assistant "+"/"-" logits."""
    return PRMSpec(name=f"rlhflow-llama3.1-8b-prm-{data.lower()}", head="lm_words", step_tag="", template="chat_turns",
                   label_words=("+", "-"), auto_class="AutoModelForCausalLM",
                   model_id=f"RLHFlow/Llama3.1-8B-PRM-{data}-Data")


def skywork_o1(size: str = "7B") -> PRMSpec:
    """Skywork-o1-Open-PRM-Qwen-2.5-1.5B/7B: ``question\\n`` then ``step\\n`` each; value head, sigmoid.

    The released checkpoints keep their value head as ``v_head``; load them with a token
    classification head of one label (see docs/scorers.md).
    """
    return PRMSpec(name=f"skywork-o1-prm-{size.lower()}", head="value", step_tag="\n", question_separator="\n",
                   value_activation="sigmoid", model_id=f"Skywork/Skywork-o1-Open-PRM-Qwen-2.5-{size}")


def trl_prm(separator: str = "\n") -> PRMSpec:
    """A PRM trained by TRL's PRMTrainer: ``question + sep``, then ``step + sep`` each; 2-way token head."""
    return PRMSpec(name="trl-prm", head="token_cls", step_tag=separator, question_separator=separator)


def prmkit_prm() -> PRMSpec:
    """prmkit's own PRMs: plain text, ``\\n\\n`` between question and steps, a step tag of ``" ки"`` per step,
    read by a 2-way token-classification head."""
    return PRMSpec(name="prmkit", head="token_cls", step_tag=" ки", step_separator="\n")


def prmkit_words() -> PRMSpec:
    """prmkit's rendering read from the LM head instead: ``" +"`` vs ``" -"`` at the tag (Math-Shepherd's way)."""
    return PRMSpec(name="prmkit-words", head="lm_words", step_tag=" ки", step_separator="\n",
                   label_words=(" +", " -"), auto_class="AutoModelForCausalLM")


def prmkit_value() -> PRMSpec:
    """prmkit's rendering read from a scalar value head (sigmoid), as Skywork's PRMs are."""
    return PRMSpec(name="prmkit-value", head="value", step_tag=" ки", step_separator="\n")


def prmkit_implicit() -> PRMSpec:
    """An implicit PRM on the policy's own text (question, newline, one step per line): no tag token is
    added, the score of a step is read at its closing newline; the reference is saved beside the model."""
    return PRMSpec(name="prmkit-implicit", head="implicit", step_tag="\n", question_separator="\n",
                   auto_class="AutoModelForCausalLM", reference="reference")


qwen2_5_math_prm_72b = functools.partial(qwen2_5_math_prm, "72B")
rlhflow_llama31_8b_mistral = functools.partial(rlhflow_llama31_8b, "Mistral")
skywork_o1_1_5b = functools.partial(skywork_o1, "1.5B")

FAMILIES: dict[str, str] = {
    "qwen2.5-math-prm-7b": "prmkit.backends.families:qwen2_5_math_prm",
    "qwen2.5-math-prm-72b": "prmkit.backends.families:qwen2_5_math_prm_72b",
    "qwen2.5-math-7b-prm800k": "prmkit.backends.families:qwen2_5_math_7b_prm800k",
    "math-shepherd": "prmkit.backends.families:math_shepherd",
    "rlhflow-llama3.1-8b-prm-deepseek": "prmkit.backends.families:rlhflow_llama31_8b",
    "rlhflow-llama3.1-8b-prm-mistral": "prmkit.backends.families:rlhflow_llama31_8b_mistral",
    "skywork-o1-prm-1.5b": "prmkit.backends.families:skywork_o1_1_5b",
    "skywork-o1-prm-7b": "prmkit.backends.families:skywork_o1",
    "trl-prm": "prmkit.backends.families:trl_prm",
    "prmkit": "prmkit.backends.families:prmkit_prm",
    "prmkit-words": "prmkit.backends.families:prmkit_words",
    "prmkit-value": "prmkit.backends.families:prmkit_value",
    "prmkit-implicit": "prmkit.backends.families:prmkit_implicit",
}


# hub ids that select their family without --spec
HUB_PRESETS: dict[str, str] = {}


def _build_presets() -> None:
    for name in FAMILIES:
        spec = resolve(name, FAMILIES, "PRM family")()
        if spec.model_id:
            HUB_PRESETS[spec.model_id] = name


def get_spec(spec: "str | PRMSpec | dict | None", model: Optional[str] = None) -> PRMSpec:
    """Resolve a spec from a family name, ``pkg.mod:builder``, a dict, a model folder's
    ``prmkit_spec.json``, or the hub id's preset, in that order of preference.

    Raises:
        ValueError: no spec given and none can be found for ``model``.
    """
    if isinstance(spec, PRMSpec):
        return spec
    if isinstance(spec, dict):
        return PRMSpec.from_dict(spec)
    if isinstance(spec, str):
        if spec.endswith(".json") and Path(spec).is_file():
            return PRMSpec.from_dict(json.loads(Path(spec).read_text(encoding="utf-8")))
        return resolve(spec, FAMILIES, "PRM family")()
    if model is not None:
        saved = Path(model) / SPEC_FILE
        if saved.is_file():
            return PRMSpec.from_dict(json.loads(saved.read_text(encoding="utf-8")))
        if not HUB_PRESETS:
            _build_presets()
        if model in HUB_PRESETS:
            return resolve(HUB_PRESETS[model], FAMILIES, "PRM family")()
    raise ValueError(f"no PRM spec for model {model!r}: pass --spec (one of {', '.join(FAMILIES)}) "
                     f"or save a {SPEC_FILE} in the model folder")
