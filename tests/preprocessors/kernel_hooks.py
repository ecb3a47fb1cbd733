"""The tests' hook into a course's kernel: ``MarkerForTheFirstKernel`` is the course's
``SandboxedExecute`` except that the student's file ``MARKER`` is shown to the first
kernel of each notebook only. A sandboxed kernel cannot keep anything from one run to
the next, so this is how a test notebook tells its first run from a re-run, and how a
test counts the kernels started (``KERNELS``)."""

from autograder.preprocessors.sandboxed_execute import SandboxedExecute

MARKER = "lose_kernel_once"
#: Kernels started per notebook executed, in order.
KERNELS: list[int] = []

#: Appended to a course's nbgrader_config.py: the hook in SandboxedExecute's place.
CONFIG_LINES = (
    "\nfrom preprocessors.kernel_hooks import MarkerForTheFirstKernel\n"
    "c.Autograde.autograde_preprocessors = [\n"
    "    MarkerForTheFirstKernel if p is SandboxedExecute else p\n"
    "    for p in c.Autograde.autograde_preprocessors\n"
    "]\n"
)


class MarkerForTheFirstKernel(SandboxedExecute):
    def preprocess(self, nb, resources=None, km=None):
        KERNELS.append(0)
        return super().preprocess(nb, resources, km)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if KERNELS[-1]:
            km.excluded_names.add(MARKER)
        KERNELS[-1] += 1
        return km
