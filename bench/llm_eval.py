"""Prove the LLM path of `rag eval --llm`: a scripted local model answers every question.

    .venv/bin/python bench/llm_eval.py [--questions FILE] [--split dev] [--vectorstore DIR]

Starts the scripted OpenAI-compatible server of the tests (tests/fake_openai.py)
on 127.0.0.1 and runs the real command line, `rag eval --llm openai:scripted`,
against it. The scripted "model" reads the numbered sources in the prompt and
answers with the two sentences of the source sharing the most words with the
question, cited [n] — or "The indexed papers do not answer this." when no
source shares two words. It is a stand-in, not a language model: the numbers
show that the LLM path (prompt, citation check, renumbering, abstention
phrase) runs end to end through `rag eval`, not what a real model would score.
Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.lexical import terms  # noqa: E402
from tests.fake_openai import FakeChatServer, Reply, request_text  # noqa: E402

_SOURCE = re.compile(r"^\[(\d+)\] .*\n(.+)$", re.M)
_SENTENCE = re.compile(r"[^.!?]+[.!?]")
DECLINE = "The indexed papers do not answer this."


def scripted_reply(body: dict[str, Any]) -> str:
    """Answer from the prompt's sources the way a cautious extractive model would."""
    prompt = request_text({"body": body})
    if "Sources:" not in prompt:  # a follow-up rewrite: keep the question as it is
        return prompt.strip().splitlines()[-1]
    question = set(terms(prompt.rsplit("Question:", 1)[-1]))
    best: tuple[int, str, str] = (0, "", "")
    for number, text in _SOURCE.findall(prompt.split("Sources:", 1)[1]):
        ranked = sorted(
            (s.strip() for s in _SENTENCE.findall(text.replace("...", "")) if s.strip()),
            key=lambda s: -len(question & set(terms(s))),
        )
        shared = len(question & set(terms(" ".join(ranked[:2]))))
        if shared > best[0]:
            best = (shared, number, " ".join(f"{s[:-1]} [{number}]{s[-1]}" for s in ranked[:2]))
    return best[2] if best[0] >= 2 else DECLINE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", default=str(ROOT / "tests/data/fresh_questions.jsonl"))
    parser.add_argument("--split", default="dev")
    parser.add_argument("--vectorstore", default=os.environ.get("RAG_VECTORSTORE_DIR", "vectorstore"))
    args = parser.parse_args()
    with FakeChatServer() as server:
        server.script(*(Reply(scripted_reply) for _ in range(5000)))
        env = os.environ | {
            "RAG_VECTORSTORE_DIR": args.vectorstore,
            "RAG_LLM_BASE_URL": server.url,
            "RAG_LLM_API_KEY": "scripted",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        command = [str(Path(sys.executable).parent / "rag"), "eval", "--questions", args.questions]
        command += ["--split", args.split] if args.split else []
        command += ["--llm", "openai:scripted"]
        print("$", " ".join(command[1:]), f"   # {len(server.requests)} requests so far")
        subprocess.run(command, env=env, check=True)
        print(f"scripted server answered {len(server.requests)} chat requests")


if __name__ == "__main__":
    main()
