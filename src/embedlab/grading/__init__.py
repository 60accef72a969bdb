"""Grading a class offline, one module per step; :mod:`embedlab.grade` is the command that runs them.

* :mod:`embedlab.grading.submissions`: which notebook is whose (file names, the Moodle and Canvas
  download layouts, duplicates and collisions).
* :mod:`embedlab.grading.kernel`: what runs inside a student's kernel (find the function, run the
  hidden checks, hand the results back as data).
* :mod:`embedlab.grading.run`: running one notebook headless, so that nothing in it stops the grading.
* :mod:`embedlab.grading.reports`: the output folder, the gradebooks (long and wide) and the feedback.
* :mod:`embedlab.grading.otter`: the same checks as Otter-Grader test files.
"""
