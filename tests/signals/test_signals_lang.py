"""The language guess."""

from __future__ import annotations

import pyarrow as pa
import pytest

from distillguard.signals.lang import guess_languages

CASES = [
    ("en", "Can you help me plan a birthday party for my daughter?"),
    ("en", "def add(a, b): return a + b"),
    ("en", "Order me a pizza"),
    ("en", "If $x + y = 4$ and $x - y = 2$, find $y$."),
    ("zh", "请帮我写一封给客户的感谢信。"),
    ("ja", "明日の天気はどうなりますか？"),
    ("ko", "내일 날씨는 어떨까요?"),
    ("ru", "Помоги мне составить план на неделю."),
    ("es", "¿Me puedes ayudar con la tarea de historia?"),
    ("de", "Kannst du mir bitte bei den Hausaufgaben helfen?"),
    ("fr", "Peux-tu m'aider avec mes devoirs de français ?"),
    ("other", "12345 + 678"),
    ("other", ""),
    ("other", "😀😀😀"),
    ("other", "Bună ziua, ce mai faceți? Îmi puteți spune ora?"),
]


@pytest.mark.parametrize(("lang", "text"), CASES)
def test_guess(lang: str, text: str) -> None:
    assert guess_languages(pa.array([text])).tolist() == [lang]


def test_guess_is_row_independent() -> None:
    texts = [t for _, t in CASES]
    assert guess_languages(pa.array(texts)).tolist() == [lang for lang, _ in CASES]
