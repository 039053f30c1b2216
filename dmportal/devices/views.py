from django.http import HttpResponse


def device_list(request):  # replaced by the device-browsing work
    return HttpResponse("devices")


def device_group_list(request):
    return HttpResponse("device groups")
