"""Chain-of-Thought: reason step by step, then give the answer in the required format.

Crib's version of the classic CoT seed (Wei et al., 2022), built from ADAS's `LLMAgentBase`:
one call that asks for the reasoning and the answer as separate JSON fields.
"""
from crib_runtime import Info, LLMAgentBase


def forward(task):
    task_info = Info("task", "User", task, -1)
    agent = LLMAgentBase(["thinking", "answer"], "Chain-of-Thought Agent")
    thinking, answer = agent([task_info], "Think step by step, then give the answer.")
    # Small models sometimes leave the answer field empty: the reasoning beats nothing.
    return answer if str(answer.content).strip() else thinking
