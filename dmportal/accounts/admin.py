from django.contrib import admin

from .models import ActivityEntry, Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    # The ciphertext is never shown, not even to staff; the hint is enough to recognise a key.
    list_display = ["label", "user", "api_host", "account_name", "key_hint", "last_used_at"]
    fields = ["user", "label", "api_host", "account_id", "account_name", "key_hint"]
    readonly_fields = ["user", "api_host", "account_id", "account_name", "key_hint"]
    search_fields = ["label", "user__username", "account_name", "account_id"]

    def has_add_permission(self, request):
        return False  # keys are added by their owner, through the verified form


@admin.register(ActivityEntry)
class ActivityEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "username", "action", "target", "result", "ip_address"]
    list_filter = ["action", "result"]
    search_fields = ["username", "target", "upstream_request_id", "request_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
