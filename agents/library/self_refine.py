"""Self-Refine: answer, let a critic check the answer, and revise with its feedback (3 rounds).

Crib's version of the self-refine / Reflexion seed, built from ADAS's `LLMAgentBase`. The
critic works at a low temperature; the loop ends as soon as the critic calls the answer correct.
"""
from crib_runtime import Info, LLMAgentBase


def forward(task):
    task_info = Info("task", "User", task, -1)
    solver = LLMAgentBase(["thinking", "answer"], "Solver Agent")
    critic = LLMAgentBase(["feedback", "correct"], "Critic Agent", temperature=0.0)
    thinking, answer = solver([task_info], "Think step by step, then give the answer.")
    for i in range(3):
        feedback, correct = critic(
            [task_info, thinking, answer],
            "Check the answer above carefully. Set correct to True if it is right, "
            "else False, and say briefly what is wrong.", i)
        if str(correct.content).strip().lower().startswith("true"):
            break
        thinking, answer = solver(
            [task_info, thinking, answer, feedback],
            "Use the feedback to fix your answer. Think step by step, then answer.", i + 1)
    # Small models sometimes leave the answer field empty: the reasoning beats nothing.
    return answer if str(answer.content).strip() else thinking
