""" "What happens next" after a submission that starts someone else's work: shown once, on the page
the person lands on, as NHS.UK inset text (templates/components/messages.html)."""

from django.contrib import messages

NEXT_STEPS_TAG = "next-steps"


def tell_next_steps(request, steps: list[str]) -> None:
    """Queue the steps, in order, for the next page the person sees."""
    if steps:
        messages.info(request, "\n".join(steps), extra_tags=NEXT_STEPS_TAG, fail_silently=True)
