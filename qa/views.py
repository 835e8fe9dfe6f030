from django.http import HttpResponse


def question_list(request):  # placeholder until the Q&A module lands
    return HttpResponse("Questions")
