import logging
import os
import sys

from .commands.cli import main

code = main()
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    # A rank under torchrun ends here, its process group destroyed and its files closed. Leaving
    # through the interpreter's teardown let C++ destructors meet a collective library's thread that
    # was still joinable ("terminate called without an active exception", exit -6, seen at random
    # at the end of 2-process runs), and torchrun then failed the whole run: skip that teardown.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
