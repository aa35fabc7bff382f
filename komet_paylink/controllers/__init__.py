from . import demo, main
