# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/lupusludensest/python_project_nick_sokolov/blob/8be06cd99eccdefbbcf69ec6c4ccbe6da1d334b2/lesson_apr_1/home_work_1_dt_09_apr_2021_2.py
# licence: none stated (no licence file; only its import lines are kept)

import requests
import time
import winsound

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
