"""Self-Consistency: sample five chains of thought at temperature 0.8 and keep the majority answer.

Crib's version of CoT-SC (Wang et al., 2023) in Crib's agent API. The five samples are
independent, so they go to the model in one batch (one model latency, not five). The votes are
counted on the final answer line (spaces and case ignored); the winning reply is returned whole
so the domain can extract its answer.
"""
from collections import Counter

from crib_runtime import answer_format, llm_many


def forward(task):
    def final_answer(reply):
        lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
        for line in reversed(lines):
            if line.lower().lstrip("*# ").startswith("answer"):
                lines = [line.split(":", 1)[-1]]
                break
        last = lines[-1] if lines else ""
        return "".join(last.strip("`*$. ").split()).lower()  # whitespace ignored

    prompt = f"{task}\n\n{answer_format}\nThink step by step, then give the answer."
    replies = llm_many([prompt] * 5, temperature=0.8)  # five independent samples, at once
    keys = [final_answer(r) for r in replies]
    votes = Counter(k for k in keys if k)
    if not votes:
        return replies[0]
    best = votes.most_common(1)[0][0]
    return replies[keys.index(best)]
