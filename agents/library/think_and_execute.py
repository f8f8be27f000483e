"""Think-and-Execute: write pseudocode for the task's logic first, then simulate it step by step.

Crib's version of Think-and-Execute (Chae et al., 2024) in Crib's agent API: one call plans an
algorithm as Python-like pseudocode, a second call executes it by hand on this task.
"""
from crib_runtime import answer_format, llm


def forward(task):
    plan = llm(f"{task}\n\nDo not solve it yet. Write short Python-like pseudocode for an "
               "algorithm that solves this kind of task.", temperature=0.0)
    return llm(f"{task}\n\nPseudocode:\n{plan}\n\nExecute the pseudocode on this task step by "
               "step, tracking the variables like a computer would, then give the result.\n"
               f"{answer_format}")
