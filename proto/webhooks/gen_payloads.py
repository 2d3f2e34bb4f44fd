"""Regenerates proto/webhooks/payloads.json, the delivery-body vectors tests/webhook_payloads.rs replays
through talon::webhook::delivery::classify and talon::webhook::normalize::normalize.

Bodies follow the shapes in the platforms' documentation (Telegram Update, Slack Events API / slash
command / block_actions, Discord interaction, WhatsApp Cloud API notification, LINE webhook, Lark v1/v2
events, Human /webhook, Comis /hooks/webhook). Hash-derived delivery ids are computed here with
hashlib, independently of the Rust code. Run: python3 gen_payloads.py
"""
import hashlib, json, os, urllib.parse

V = []
H = lambda s: hashlib.sha256(s.encode()).hexdigest()
FORM = "application/x-www-form-urlencoded"
JSON_CT = "application/json"


def js(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def add(name, channel, body, cls=None, id=None, messages=None, error=None, message=None, ct=JSON_CT,
        challenge=None, token=None, normalize_error=None, source=None):
    body = body if isinstance(body, str) else js(body)
    e = {"name": name, "channel": channel, "content_type": ct, "body": body}
    if error:
        e["expect_class"] = "error"
        e["expect_error"] = error
        if message: e["expect_error_message"] = message
    else:
        e["expect_class"] = cls or "deliver"
        if e["expect_class"] == "deliver":
            e["expect_delivery_id"] = H(body) if id is None else id
        if challenge is not None: e["expect_challenge"] = challenge
        if cls == "lark_challenge": e["expect_token"] = token
    if messages is not None: e["expect_messages"] = messages
    if normalize_error: e["expect_normalize_error"] = normalize_error
    if source: e["source"] = source
    V.append(e)


def msg(channel, kind, sender=None, chat=None, text=None, attachments=()):
    return {"channel": channel, "sender": sender, "chat": chat, "text": text, "attachments": list(attachments), "kind": kind}


def att(kind, id=None, url=None, mime=None, name=None):
    return {"kind": kind, "id": id, "url": url, "mime": mime, "name": name}


def rejections(channel, prefix):
    """The body-level refusals every JSON channel shares."""
    add(prefix + "_empty", channel, "", error="empty", message="the body is empty", normalize_error="empty")
    add(prefix + "_not_json", channel, "{\"update_id\":", error="not_json", message="the body is not valid JSON",
        normalize_error="not_json")
    add(prefix + "_array", channel, "[{\"id\":\"1\"}]", error="not_object", message="the body is JSON but not an object",
        normalize_error="not_object")


# --- Telegram (core.telegram.org/bots/api#update; the webhook test update from core.telegram.org/bots/webhooks) ---
TG = "telegram"
user = {"id": 1111111, "is_bot": False, "first_name": "Test Firstname", "last_name": "Test Lastname", "username": "Testusername"}
private = {"id": 1111111, "type": "private", "first_name": "Test Firstname", "last_name": "Test Lastname", "username": "Testusername"}
group = {"id": -1001234567890, "type": "supergroup", "title": "Test Group"}
def upd(uid, **kw): return {"update_id": uid, **kw}
def tmsg(chat=private, **kw): return {"message_id": 1365, "from": user, "chat": chat, "date": 1441645532, **kw}
add("telegram_text", TG, upd(10000, message=tmsg(text="/start")), id="10000",
    messages=[msg(TG, "message", "1111111", "1111111", "/start")], source="core.telegram.org/bots/webhooks (test update)")
photo = [{"file_id": "AgADBAADsmall", "file_unique_id": "s", "file_size": 1234, "width": 90, "height": 67},
         {"file_id": "AgADBAADlarge", "file_unique_id": "l", "file_size": 98765, "width": 1280, "height": 960},
         {"file_id": "AgADBAADmedium", "file_unique_id": "m", "file_size": 23456, "width": 320, "height": 240}]
add("telegram_group_photo_caption", TG, upd(10001, message=tmsg(group, photo=photo, caption="look")), id="10001",
    messages=[msg(TG, "message", "1111111", "-1001234567890", "look", [att("photo", "AgADBAADlarge")])])
add("telegram_edited_message", TG, upd(10002, edited_message=tmsg(text="fixed typo", edit_date=1441645600)), id="10002",
    messages=[msg(TG, "edited_message", "1111111", "1111111", "fixed typo")])
channel = {"id": -1009876543210, "type": "channel", "title": "News"}
post = {"message_id": 7, "sender_chat": channel, "chat": channel, "date": 1441645532, "text": "announcement"}
add("telegram_channel_post", TG, upd(10003, channel_post=post), id="10003",
    messages=[msg(TG, "channel_post", "-1009876543210", "-1009876543210", "announcement")])
add("telegram_callback_query", TG, upd(10004, callback_query={"id": "4382bfdwdsb323b2d9", "from": user, "chat_instance": "-1",
    "data": "btn:yes", "message": tmsg(text="Continue?", reply_markup={"inline_keyboard": []})}), id="10004",
    messages=[msg(TG, "callback_query", "1111111", "1111111", "btn:yes")])
doc = {"file_name": "report.pdf", "mime_type": "application/pdf", "file_id": "BQACAgIAAxkBAAI", "file_unique_id": "u", "file_size": 4096}
add("telegram_document", TG, upd(10005, message=tmsg(document=doc, caption="Q3")), id="10005",
    messages=[msg(TG, "message", "1111111", "1111111", "Q3", [att("document", "BQACAgIAAxkBAAI", mime="application/pdf", name="report.pdf")])])
voice = {"duration": 3, "mime_type": "audio/ogg", "file_id": "AwACAgIAAxkBAAIvoice", "file_unique_id": "v", "file_size": 7000}
add("telegram_voice", TG, upd(10006, message=tmsg(voice=voice)), id="10006",
    messages=[msg(TG, "message", "1111111", "1111111", None, [att("voice", "AwACAgIAAxkBAAIvoice", mime="audio/ogg")])])
add("telegram_location", TG, upd(10007, message=tmsg(location={"latitude": 52.520008, "longitude": 13.404954})), id="10007",
    messages=[msg(TG, "message", "1111111", "1111111", None, [att("location", url="geo:52.520008,13.404954")])])
sticker = {"file_id": "CAACAgIAAxkBAAIsticker", "file_unique_id": "st", "type": "regular", "width": 512, "height": 512,
           "is_animated": False, "is_video": False, "emoji": "\U0001F44D"}
add("telegram_sticker", TG, upd(10008, message=tmsg(sticker=sticker)), id="10008",
    messages=[msg(TG, "message", "1111111", "1111111", None, [att("sticker", "CAACAgIAAxkBAAIsticker")])])
add("telegram_my_chat_member", TG, upd(10009, my_chat_member={"chat": group, "from": user, "date": 1441645532,
    "old_chat_member": {"status": "left"}, "new_chat_member": {"status": "member"}}), id="10009",
    messages=[msg(TG, "update")])
add("telegram_update_id_max_u64", TG, upd(18446744073709551615, message=tmsg(text="x")), id="18446744073709551615")
add("telegram_retyped_fields_are_absent", TG, upd(10010, message=tmsg(chat="not-an-object", text=42, photo={"x": 1})),
    id="10010", messages=[msg(TG, "message", "1111111", None, None)])
add("telegram_missing_update_id", TG, {"message": tmsg(text="hi")}, error="missing_field",
    message="required field `update_id` is missing", messages=[msg(TG, "message", "1111111", "1111111", "hi")])
add("telegram_update_id_string", TG, {"update_id": "10000", "message": tmsg(text="hi")}, error="bad_field",
    message="field `update_id` must be a non-negative integer")
add("telegram_update_id_negative", TG, {"update_id": -1}, error="bad_field")
add("telegram_update_id_float", TG, {"update_id": 1.5}, error="bad_field")
add("telegram_duplicate_update_id", TG, '{"update_id":1,"update_id":2}', error="duplicate_field",
    message="a field appears twice in one object, so its value is ambiguous", normalize_error=None)
# JavaScript senders can cut an emoji in half: the text keeps one U+FFFD, the message survives.
add("telegram_lone_surrogate_in_text", TG, '{"update_id":10011,"message":{"from":{"id":1},"chat":{"id":1},"text":"hi \\ud83d"}}',
    id="10011", messages=[msg(TG, "message", "1", "1", "hi \ufffd")])
add("telegram_too_deep", TG, '{"update_id":1,"x":' + "[" * 65 + "]" * 65 + "}", error="too_deep",
    message="the body nests objects and arrays more than 64 levels deep", normalize_error="too_deep")
rejections(TG, "telegram")

# --- Slack (api.slack.com/events-api, /interactivity/slash-commands, /reference/interaction-payloads) ---
SL = "slack"
add("slack_url_verification", SL, {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    "type": "url_verification"}, cls="slack_challenge", challenge="3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    messages=[], source="api.slack.com/events/url_verification")
def env(event, eid="Ev123ABC456"):
    return {"token": "XXYYZZ", "team_id": "T123ABC456", "api_app_id": "A123ABC456", "event": event, "type": "event_callback",
            "authed_users": ["U123ABC456"], "event_id": eid, "event_time": 1355517523}
add("slack_message", SL, env({"type": "message", "channel": "C123ABC456", "user": "U123ABC456", "text": "Live long and prospect.",
    "ts": "1355517523.000005", "event_ts": "1355517523.000005", "channel_type": "channel"}), id="Ev123ABC456",
    messages=[msg(SL, "message", "U123ABC456", "C123ABC456", "Live long and prospect.")], source="api.slack.com/events/message")
add("slack_app_mention", SL, env({"type": "app_mention", "user": "U061F7AUR", "text": "<@U0LAN0Z89> is it everything?",
    "ts": "1515449522.000016", "channel": "C123ABC456", "event_ts": "1515449522000016"}, "Ev0LAN670R"), id="Ev0LAN670R",
    messages=[msg(SL, "app_mention", "U061F7AUR", "C123ABC456", "<@U0LAN0Z89> is it everything?")])
files = [{"id": "F0123ABCD", "name": "diagram.png", "mimetype": "image/png", "filetype": "png",
          "url_private": "https://files.slack.com/files-pri/T1-F0123ABCD/diagram.png"}]
add("slack_file_share", SL, env({"type": "message", "subtype": "file_share", "channel": "C123ABC456", "user": "U123ABC456",
    "text": "see attached", "files": files, "ts": "1.2"}, "Ev0FILE"), id="Ev0FILE",
    messages=[msg(SL, "message", "U123ABC456", "C123ABC456", "see attached", [att("file", "F0123ABCD",
    "https://files.slack.com/files-pri/T1-F0123ABCD/diagram.png", "image/png", "diagram.png")])])
add("slack_message_changed", SL, env({"type": "message", "subtype": "message_changed", "hidden": True, "channel": "C123ABC456",
    "ts": "1358878755.000001", "message": {"type": "message", "user": "U123ABC456", "text": "Hello, world!", "ts": "1358878749.000002",
    "edited": {"user": "U123ABC456", "ts": "1358878755.000001"}}}, "Ev0EDIT"), id="Ev0EDIT",
    messages=[msg(SL, "edited_message", "U123ABC456", "C123ABC456", "Hello, world!")])
add("slack_reaction_added", SL, env({"type": "reaction_added", "user": "U123ABC456", "reaction": "thumbsup", "item_user": "U222222222",
    "item": {"type": "message", "channel": "C123ABC456", "ts": "1360782400.498405"}, "event_ts": "1360782804.083113"}, "Ev0REACT"),
    id="Ev0REACT", messages=[msg(SL, "reaction_added", "U123ABC456")])
add("slack_app_rate_limited", SL, {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "app_rate_limited", "team_id": "T123456",
    "minute_rate_limited": 1518467820, "api_app_id": "A123456"}, messages=[msg(SL, "app_rate_limited")])
slash = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar"
         "&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
         "%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
add("slack_slash_command_official", SL, slash, ct=FORM, id="398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
    messages=[msg(SL, "command", "U2CERLKJA", "G8PSS9T3V", "/webhook-collect")], source="reference/systems.md §2 (Slack signing vector body)")
slash2 = urllib.parse.urlencode({"command": "/weather", "text": "94070 tomorrow", "user_id": "U2147483697",
                                 "channel_id": "C2147483705", "trigger_id": "13345224609.738474920.8088930838d88f008e0"})
add("slack_slash_command_text", SL, slash2, ct=FORM + "; charset=utf-8", id="13345224609.738474920.8088930838d88f008e0",
    messages=[msg(SL, "command", "U2147483697", "C2147483705", "/weather 94070 tomorrow")])
add("slack_slash_command_sniffed_without_content_type", SL, slash2, ct=None, id="13345224609.738474920.8088930838d88f008e0")
block = {"type": "block_actions", "user": {"id": "U123ABC456", "username": "mattj", "team_id": "T123ABC456"},
         "api_app_id": "A123ABC456", "token": "9s8d9as89d8as9d8as989", "container": {"type": "message", "message_ts": "1548261231.000200",
         "channel_id": "C123ABC456", "is_ephemeral": False}, "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
         "team": {"id": "T123ABC456", "domain": "shirtstore"}, "channel": {"id": "C123ABC456", "name": "review-updates"},
         "response_url": "https://hooks.slack.com/actions/T0MJR11A4/518126220002/7ZG7H3GYFuTXs4UZAk6Hrrne",
         "actions": [{"action_id": "WaXA", "block_id": "=qXel", "text": {"type": "plain_text", "text": "View", "emoji": True},
                      "value": "click_me_123", "type": "button", "action_ts": "1548426417.840180"}]}
add("slack_block_actions", SL, "payload=" + urllib.parse.quote(js(block)), ct=FORM,
    id="12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
    messages=[msg(SL, "interaction", "U123ABC456", "C123ABC456", "click_me_123")], source="api.slack.com/reference/interaction-payloads/block-actions-payload")
closed = {"type": "view_closed", "team": {"id": "T123ABC456"}, "user": {"id": "U123ABC456"}, "view": {"id": "V123"}, "is_cleared": False}
add("slack_view_closed_hashed_body", SL, "payload=" + urllib.parse.quote(js(closed)), ct=FORM,
    messages=[msg(SL, "interaction", "U123ABC456")])
add("slack_huge_trigger_id_hashed", SL, "command=%2Fx&trigger_id=" + "7" * 300, ct=FORM, id=H("7" * 300))
add("slack_event_callback_missing_event_id", SL, {"type": "event_callback", "event": {"type": "message"}}, error="missing_field",
    message="required field `event_id` is missing")
add("slack_event_id_empty", SL, {"type": "event_callback", "event_id": ""}, error="bad_field",
    message="field `event_id` must be a non-empty string")
add("slack_missing_type", SL, {"token": "x", "event_id": "Ev1"}, error="missing_field", message="required field `type` is missing")
add("slack_challenge_not_string", SL, {"type": "url_verification", "challenge": 5}, error="bad_field")
add("slack_payload_not_json", SL, "payload=%7Bnot+json", ct=FORM, error="bad_field",
    message="field `payload` must be a JSON object", normalize_error="bad_field")
add("slack_form_empty", SL, "", ct=FORM, error="empty", normalize_error="empty")
rejections(SL, "slack")

# --- Discord (discord.com/developers/docs/interactions/receiving-and-responding#interaction-object) ---
DC = "discord"
add("discord_ping", DC, {"id": "1100000000000000000", "application_id": "1000000000000000000", "type": 1, "version": 1, "token": "tok"},
    cls="discord_ping", messages=[])
member = {"user": {"id": "53908232506183680", "username": "Mason", "discriminator": "1337", "public_flags": 131141},
          "roles": ["539082325061836999"], "permissions": "2147483647", "nick": None, "joined_at": "2017-03-13T19:19:14.040000+00:00"}
def inter(kind, data, iid="786008729715212338", **kw):
    base = {"type": kind, "token": "A_UNIQUE_TOKEN", "member": member, "id": iid, "guild_id": "290926798626357999",
            "app_permissions": "442368", "locale": "en-US", "data": data, "channel_id": "645027906669510667", "version": 1}
    base.update(kw)
    return base
add("discord_slash_command", DC, inter(2, {"options": [{"type": 3, "name": "cardname", "value": "The Gitrog Monster"}],
    "type": 1, "name": "cardsearch", "id": "771825006014889984"}), id="786008729715212338",
    messages=[msg(DC, "command", "53908232506183680", "645027906669510667", "/cardsearch cardname:The Gitrog Monster")],
    source="discord.com/developers/docs/interactions/receiving-and-responding (example interaction)")
add("discord_subcommand", DC, inter(2, {"name": "permissions", "type": 1, "options": [{"name": "user", "type": 2, "options": [
    {"name": "get", "type": 1, "options": [{"name": "user", "type": 6, "value": "1234"}, {"name": "verbose", "type": 5, "value": True},
    {"name": "limit", "type": 4, "value": 10}]}]}]}, "786008729715212339"), id="786008729715212339",
    messages=[msg(DC, "command", "53908232506183680", "645027906669510667", "/permissions user get user:1234 verbose:true limit:10")])
dm = inter(2, {"name": "ping", "type": 1}, "786008729715212340")
del dm["member"], dm["guild_id"]
dm["user"] = {"id": "80351110224678912", "username": "Nelly"}
add("discord_dm_command", DC, dm, id="786008729715212340", messages=[msg(DC, "command", "80351110224678912", "645027906669510667", "/ping")])
add("discord_button", DC, inter(3, {"custom_id": "click_one", "component_type": 2}, "846462639134605312",
    message={"id": "846462637868810250", "content": "pick"}), id="846462639134605312",
    messages=[msg(DC, "component", "53908232506183680", "645027906669510667", "click_one")])
add("discord_select_menu", DC, inter(3, {"custom_id": "class_select_1", "component_type": 3, "values": ["mage", "rogue"]},
    "846462639134605313"), id="846462639134605313",
    messages=[msg(DC, "component", "53908232506183680", "645027906669510667", "class_select_1 mage rogue")])
add("discord_modal_submit", DC, inter(5, {"custom_id": "feedback_modal", "components": [{"type": 1, "components": [
    {"type": 4, "custom_id": "text", "value": "great"}]}]}, "846462639134605314"), id="846462639134605314",
    messages=[msg(DC, "modal_submit", "53908232506183680", "645027906669510667", "feedback_modal")])
add("discord_command_with_attachment", DC, inter(2, {"name": "upload", "type": 1, "options": [{"name": "file", "type": 11,
    "value": "1055870017513111552"}], "resolved": {"attachments": {"1055870017513111552": {"id": "1055870017513111552",
    "filename": "cat.png", "size": 1024, "url": "https://cdn.discordapp.com/attachments/1/1055870017513111552/cat.png",
    "content_type": "image/png"}}}}, "786008729715212341"), id="786008729715212341",
    messages=[msg(DC, "command", "53908232506183680", "645027906669510667", "/upload file:1055870017513111552",
    [att("file", "1055870017513111552", "https://cdn.discordapp.com/attachments/1/1055870017513111552/cat.png", "image/png", "cat.png")])])
add("discord_huge_id_hashed", DC, {"type": 2, "id": "9" * 257}, id=H("9" * 257))
add("discord_control_char_id_hashed", DC, {"type": 2, "id": "12\n34"}, id=H("12\n34"))
add("discord_missing_id", DC, {"type": 2, "data": {"name": "x"}}, error="missing_field", message="required field `id` is missing")
add("discord_numeric_id", DC, {"type": 2, "id": 786008729715212338}, error="bad_field", message="field `id` must be a non-empty string")
add("discord_missing_type", DC, {"id": "1"}, error="missing_field", message="required field `type` is missing")
add("discord_type_string", DC, {"type": "1", "id": "1"}, error="bad_field", message="field `type` must be an integer")
rejections(DC, "discord")

# --- WhatsApp Cloud API (developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples) ---
WA = "whatsapp"
meta = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
contacts = [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}]
def wa(value_extra, field="messages"):
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [
        {"value": {"messaging_product": "whatsapp", "metadata": meta, **value_extra}, "field": field}]}]}
def wmsg(mid, kind, **kw): return {"from": "16505551234", "id": mid, "timestamp": "1749416383", "type": kind, **kw}
W1 = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
add("whatsapp_text", WA, wa({"contacts": contacts, "messages": [wmsg(W1, "text", text={"body": "Does it come in another color?"})]}),
    id=W1, messages=[msg(WA, "message", "16505551234", "16505551234", "Does it come in another color?")],
    source="developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples (text message)")
add("whatsapp_image_caption", WA, wa({"contacts": contacts, "messages": [wmsg("wamid.IMG", "image", image={"caption": "New shoes",
    "mime_type": "image/jpeg", "sha256": "abc", "id": "1003383421387256"})]}), id="wamid.IMG",
    messages=[msg(WA, "message", "16505551234", "16505551234", "New shoes", [att("image", "1003383421387256", mime="image/jpeg")])])
add("whatsapp_document", WA, wa({"messages": [wmsg("wamid.DOC", "document", document={"filename": "invoice.pdf",
    "mime_type": "application/pdf", "sha256": "def", "id": "1090120319421830"})]}), id="wamid.DOC",
    messages=[msg(WA, "message", "16505551234", "16505551234", None, [att("document", "1090120319421830", mime="application/pdf", name="invoice.pdf")])])
add("whatsapp_voice_note", WA, wa({"messages": [wmsg("wamid.VOICE", "audio", audio={"mime_type": "audio/ogg; codecs=opus",
    "sha256": "x", "id": "2099129970619209", "voice": True})]}), id="wamid.VOICE",
    messages=[msg(WA, "message", "16505551234", "16505551234", None, [att("voice", "2099129970619209", mime="audio/ogg; codecs=opus")])])
add("whatsapp_location", WA, wa({"messages": [wmsg("wamid.LOC", "location", location={"address": "1 Hacker Way, Menlo Park, CA 94025",
    "latitude": 37.483872, "longitude": -122.148358, "name": "Main Street Beach", "url": "https://example.com"})]}), id="wamid.LOC",
    messages=[msg(WA, "message", "16505551234", "16505551234", None, [att("location", url="geo:37.483872,-122.148358", name="Main Street Beach")])])
add("whatsapp_reaction", WA, wa({"messages": [wmsg("wamid.REACT", "reaction", reaction={"message_id": W1, "emoji": "\U0001F60D"})]}),
    id="wamid.REACT", messages=[msg(WA, "reaction", "16505551234", "16505551234", "\U0001F60D")])
add("whatsapp_button_reply", WA, wa({"messages": [wmsg("wamid.BTN", "interactive", interactive={"type": "button_reply",
    "button_reply": {"id": "unique-postback-id", "title": "Yes, please"}}, context={"from": "15550783881", "id": W1})]}),
    id="wamid.BTN", messages=[msg(WA, "message", "16505551234", "16505551234", "Yes, please")])
S1 = "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"
status = {"id": S1, "status": "delivered", "timestamp": "1750263773", "recipient_id": "16467043595",
          "conversation": {"id": "6ceb9d929c0f7b8a6d9e2c1d", "origin": {"type": "service"}},
          "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"}}
add("whatsapp_status_delivered", WA, wa({"statuses": [status]}), id=S1 + ":delivered",
    messages=[msg(WA, "status", None, "16467043595")], source="developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples (status)")
add("whatsapp_status_read", WA, wa({"statuses": [dict(status, status="read")]}), id=S1 + ":read")
add("whatsapp_batch_ids_joined_sorted", WA, wa({"messages": [wmsg("wamid.B", "text", text={"body": "two"}),
    wmsg("wamid.A", "text", text={"body": "one"})]}), id="wamid.A,wamid.B",
    messages=[msg(WA, "message", "16505551234", "16505551234", "two"), msg(WA, "message", "16505551234", "16505551234", "one")])
many = ["wamid." + "X" * 50 + str(i) for i in range(6)]
add("whatsapp_many_ids_hashed", WA, wa({"messages": [wmsg(m, "text", text={"body": "x"}) for m in many]}), id=H(",".join(sorted(many))))
add("whatsapp_account_update_hashed_body", WA, wa({"event": "VERIFIED_ACCOUNT"}, field="account_update"), messages=[msg(WA, "event")])
add("whatsapp_missing_entry", WA, {"object": "whatsapp_business_account"}, error="missing_field", message="required field `entry` is missing")
add("whatsapp_entry_not_array", WA, {"object": "whatsapp_business_account", "entry": {"id": "1"}}, error="bad_field",
    message="field `entry` must be an array")
rejections(WA, "whatsapp")

# --- LINE (developers.line.biz/en/reference/messaging-api/#webhook-event-objects) ---
LN = "line"
add("line_console_verify", LN, '{"destination":"U1","events":[]}', cls="line_verify", messages=[],
    source="reference/systems.md §2 (LINE verify body)")
def lev(eid, kind, source, **kw):
    return {"type": kind, "webhookEventId": eid, "deliveryContext": {"isRedelivery": False}, "timestamp": 1625665242211,
            "source": source, "replyToken": "757913772c4646b784d4b7ce46d12671", "mode": "active", **kw}
U = {"type": "user", "userId": "U4af4980629a7a1b6c1a2b3c4d5e6f7a8"}
G = {"type": "group", "groupId": "Ca56f94637cc4347f90a25382909b24b9", "userId": "U4af4980629a7a1b6c1a2b3c4d5e6f7a8"}
R = {"type": "room", "roomId": "Ra8dbf4673c4c812cd491258042226c99", "userId": "U4af4980629a7a1b6c1a2b3c4d5e6f7a8"}
UID = U["userId"]
def line(*events): return {"destination": "xxxxxxxxxx", "events": list(events)}
add("line_text", LN, line(lev("01FZ74A0TDDPYRVKNK77XKC3ZR", "message", U, message={"type": "text", "id": "14353798921116",
    "text": "Hello, world", "quoteToken": "q3Plxr4AgKd"})), id="01FZ74A0TDDPYRVKNK77XKC3ZR",
    messages=[msg(LN, "message", UID, UID, "Hello, world")], source="developers.line.biz (text message event)")
add("line_group_image", LN, line(lev("01GZ74A0TDDPYRVKNK77XKC3ZS", "message", G, message={"type": "image", "id": "354718705033693859",
    "contentProvider": {"type": "line"}, "quoteToken": "q"})), id="01GZ74A0TDDPYRVKNK77XKC3ZS",
    messages=[msg(LN, "message", UID, G["groupId"], None, [att("image", "354718705033693859")])])
add("line_room_external_video", LN, line(lev("01GZ74A0TDDPYRVKNK77XKC3ZT", "message", R, message={"type": "video", "id": "325708",
    "duration": 60000, "contentProvider": {"type": "external", "originalContentUrl": "https://example.com/original.mp4"}})),
    id="01GZ74A0TDDPYRVKNK77XKC3ZT",
    messages=[msg(LN, "message", UID, R["roomId"], None, [att("video", "325708", "https://example.com/original.mp4")])])
add("line_file", LN, line(lev("01H0000000000000000000FILE", "message", U, message={"type": "file", "id": "325709",
    "fileName": "file.txt", "fileSize": 2138})), id="01H0000000000000000000FILE",
    messages=[msg(LN, "message", UID, UID, None, [att("file", "325709", name="file.txt")])])
add("line_sticker_and_location", LN, line(
    lev("01H00000000000000000000STK", "message", U, message={"type": "sticker", "id": "1501597916", "packageId": "446",
        "stickerId": "1988", "stickerResourceType": "STATIC"}),
    lev("01H00000000000000000000LOC", "message", U, message={"type": "location", "id": "325710", "title": "my location",
        "address": "1-3 Kioicho, Chiyoda-ku, Tokyo", "latitude": 35.67966, "longitude": 139.73669})),
    id="01H00000000000000000000LOC,01H00000000000000000000STK",
    messages=[msg(LN, "message", UID, UID, None, [att("sticker", "1501597916")]),
              msg(LN, "message", UID, UID, None, [att("location", url="geo:35.67966,139.73669", name="my location")])])
add("line_postback", LN, line(lev("01H000000000000000000POST", "postback", U, postback={"data": "action=buy&itemid=111"})),
    id="01H000000000000000000POST", messages=[msg(LN, "postback", UID, UID, "action=buy&itemid=111")])
add("line_follow", LN, line(lev("01H000000000000000000FOLW", "follow", U, follow={"isUnblocked": False})), id="01H000000000000000000FOLW",
    messages=[msg(LN, "follow", UID, UID)])
add("line_event_without_id_hashed_body", LN, {"destination": "x", "events": [{"type": "unfollow", "source": U}]},
    messages=[msg(LN, "unfollow", UID, UID)])
ids = ["01H%023d" % i for i in range(12)]
add("line_many_events_hashed", LN, line(*[lev(i, "unsend", U, unsend={"messageId": "1"}) for i in reversed(ids)]), id=H(",".join(ids)))
add("line_missing_events", LN, {"destination": "U1"}, error="missing_field", message="required field `events` is missing")
add("line_events_not_array", LN, {"destination": "U1", "events": {}}, error="bad_field", message="field `events` must be an array")
rejections(LN, "line")

# --- Lark / Feishu (open.feishu.cn/document/server-docs/im-v1/message/events/receive) ---
LK = "lark"
add("lark_url_verification", LK, {"challenge": "ajls384kdjx98XX", "token": "xxxxxx", "type": "url_verification"},
    cls="lark_challenge", challenge="ajls384kdjx98XX", token="xxxxxx", messages=[], source="reference/systems.md §2")
add("lark_url_verification_without_token", LK, {"challenge": "c1", "type": "url_verification"}, cls="lark_challenge",
    challenge="c1", token=None)
def v2(eid, event_type, event):
    return {"schema": "2.0", "header": {"event_id": eid, "event_type": event_type, "create_time": "1608725989000",
            "token": "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV", "app_id": "cli_9f5343c580712544", "tenant_key": "2ca1d211f64f6438"}, "event": event}
sender = {"sender_id": {"union_id": "on_8ed6aa67826108097d9ee143816345", "user_id": "e33ggbyz",
          "open_id": "ou_84aad35d084aa403a838cf73ee18467"}, "sender_type": "user", "tenant_key": "736588c9260f175e"}
def lmsg(kind, content):
    return {"message_id": "om_5ce6d572455d361153b7cb51da133945", "create_time": "1609073151345",
            "chat_id": "oc_5ce6d572455d361153b7xx51da133945", "chat_type": "group", "message_type": kind, "content": js(content)}
OU, OC = "ou_84aad35d084aa403a838cf73ee18467", "oc_5ce6d572455d361153b7xx51da133945"
add("lark_v2_text", LK, v2("5e3702a84e847582be8db7fb73283c02", "im.message.receive_v1",
    {"sender": sender, "message": lmsg("text", {"text": "@_user_1 hello"})}), id="5e3702a84e847582be8db7fb73283c02",
    messages=[msg(LK, "message", OU, OC, "@_user_1 hello")], source="open.feishu.cn im.message.receive_v1 example")
add("lark_v2_image", LK, v2("5e3702a84e847582be8db7fb73283c03", "im.message.receive_v1",
    {"sender": sender, "message": lmsg("image", {"image_key": "img_v2_041b28e3-5680-48c2-9af2-497ace79333g"})}),
    id="5e3702a84e847582be8db7fb73283c03",
    messages=[msg(LK, "message", OU, OC, None, [att("image", "img_v2_041b28e3-5680-48c2-9af2-497ace79333g")])])
add("lark_v2_file", LK, v2("5e3702a84e847582be8db7fb73283c04", "im.message.receive_v1",
    {"sender": sender, "message": lmsg("file", {"file_key": "file_v2_9e5c6b5c", "file_name": "plan.docx"})}),
    id="5e3702a84e847582be8db7fb73283c04", messages=[msg(LK, "message", OU, OC, None, [att("file", "file_v2_9e5c6b5c", name="plan.docx")])])
add("lark_v2_post", LK, v2("5e3702a84e847582be8db7fb73283c05", "im.message.receive_v1",
    {"sender": sender, "message": lmsg("post", {"title": "Weekly", "content": [[{"tag": "text", "text": "Ship "},
    {"tag": "a", "text": "it", "href": "https://example.com"}], [{"tag": "at", "user_id": "@_user_1"}], [{"tag": "text", "text": "Thanks"}]]})}),
    id="5e3702a84e847582be8db7fb73283c05", messages=[msg(LK, "message", OU, OC, "Weekly\nShip it\nThanks")])
add("lark_v2_bot_added", LK, v2("5e3702a84e847582be8db7fb73283c06", "im.chat.member.bot.added_v1", {"chat_id": OC}),
    id="5e3702a84e847582be8db7fb73283c06", messages=[msg(LK, "im.chat.member.bot.added_v1")])
add("lark_v1_message", LK, {"uuid": "41b5f371157e3d5341b38b20396e77d3", "token": "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV",
    "ts": "1612694400.123456", "type": "event_callback", "event": {"type": "message", "app_id": "cli_9f5343c580712544",
    "tenant_key": "2ca1d211f64f6438", "open_chat_id": "oc_5ce6d572455d361153b7cb51da133945", "chat_type": "private",
    "msg_type": "text", "open_id": "ou_18eac85d35a26f989317ad4f02e8bbbb", "is_mention": False, "text": "<at open_id=\"x\">@bot</at> hello",
    "text_without_at_bot": "hello"}}, id="41b5f371157e3d5341b38b20396e77d3",
    messages=[msg(LK, "message", "ou_18eac85d35a26f989317ad4f02e8bbbb", "oc_5ce6d572455d361153b7cb51da133945", "hello")])
add("lark_encrypted_body", LK, {"encrypt": "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}, error="encrypted",
    message="the body is still encrypted (`encrypt`); decrypt it with the Encrypt Key", normalize_error="encrypted")
add("lark_v2_missing_event_id", LK, {"schema": "2.0", "header": {"event_type": "im.message.receive_v1"}, "event": {}},
    error="missing_field", message="required field `header.event_id` is missing")
add("lark_v2_header_not_object", LK, {"schema": "2.0", "header": "h"}, error="bad_field")
add("lark_v1_missing_uuid", LK, {"type": "event_callback", "event": {"type": "message"}}, error="missing_field",
    message="required field `uuid` is missing")
add("lark_challenge_missing", LK, {"type": "url_verification", "token": "t"}, error="missing_field",
    message="required field `challenge` is missing")
rejections(LK, "lark")

# --- Human generic /webhook (any body; the id is the body's SHA-256) ---
GN = "webhook"
add("generic_human_message", GN, '{"message":"hi"}', messages=[msg(GN, "message", None, None, "hi")],
    source="reference/systems.md §2 (Human X-Signature example body)")
add("generic_text_sender_object_channel", GN, {"text": "deploy done", "from": {"id": 42, "name": "ci"}, "channel": "ops"},
    messages=[msg(GN, "message", "42", "ops", "deploy done")])
add("generic_plain_text_body", GN, "just words", ct="text/plain", messages=[msg(GN, "message", None, None, "just words")])
add("generic_json_without_message", GN, '{"action":"opened","number":7}',
    messages=[msg(GN, "event", None, None, '{"action":"opened","number":7}')])
add("generic_empty", GN, "", error="empty", normalize_error="empty")
add("generic_whitespace_only", GN, " \n", error="empty")

# --- Comis /hooks/webhook: {event, source, data, timestamp?}; schema failures are 422 ---
HK = "hooks"
add("hooks_data_text", HK, {"event": "deploy.finished", "source": "ci", "data": {"text": "Deploy ok", "sha": "abc"}, "timestamp": 1700000000},
    messages=[msg(HK, "deploy.finished", "ci", None, "Deploy ok")])
add("hooks_data_message", HK, {"event": "alert", "source": "grafana", "data": {"message": "CPU high"}, "timestamp": "2023-11-14T22:13:20Z"},
    messages=[msg(HK, "alert", "grafana", None, "CPU high")])
add("hooks_data_object_as_json", HK, '{"event":"order.created","source":"shop","data": {"id": 7, "total": 12.5}}',
    messages=[msg(HK, "order.created", "shop", None, '{"id": 7, "total": 12.5}')])
add("hooks_data_string", HK, {"event": "note", "source": "cli", "data": "remember the milk"},
    messages=[msg(HK, "note", "cli", None, "remember the milk")])
add("hooks_data_null", HK, {"event": "ping", "source": "uptime", "data": None}, messages=[msg(HK, "ping", "uptime", None, "null")])
add("hooks_event_name_not_an_identifier", HK, {"event": "has spaces", "source": "x", "data": 1}, messages=[msg(HK, "event", "x", None, "1")])
def schema(name, body, field, expected, **kw):
    add(name, HK, body, error="schema", message="the body does not match {event, source, data, timestamp?}: `%s` must be %s" % (field, expected),
        normalize_error="schema", **kw)
schema("hooks_missing_event", {"source": "ci", "data": {}}, "event", "a non-empty string")
schema("hooks_event_number", {"event": 5, "source": "ci", "data": {}}, "event", "a non-empty string")
schema("hooks_event_empty", {"event": "", "source": "ci", "data": {}}, "event", "a non-empty string")
schema("hooks_missing_source", {"event": "e", "data": {}}, "source", "a non-empty string")
schema("hooks_missing_data", {"event": "e", "source": "ci"}, "data", "present (any JSON value)")
schema("hooks_timestamp_bool", {"event": "e", "source": "ci", "data": {}, "timestamp": True}, "timestamp", "a string or a number when present")
schema("hooks_timestamp_null", {"event": "e", "source": "ci", "data": {}, "timestamp": None}, "timestamp", "a string or a number when present")
schema("hooks_array_body", [{"event": "e", "source": "ci", "data": {}}], "body", "a JSON object")
schema("hooks_string_body", '"event"', "body", "a JSON object")
add("hooks_empty", HK, "", error="empty", normalize_error="empty")
add("hooks_not_json", HK, "event=e&source=s", ct=FORM, error="not_json", normalize_error="not_json")
add("hooks_duplicate_event", HK, '{"event":"a","event":"b","source":"s","data":1}', error="duplicate_field", normalize_error="duplicate_field")

names = [v["name"] for v in V]
assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
out = "[\n" + ",\n".join("  " + json.dumps(v, ensure_ascii=False) for v in V) + "\n]\n"
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "payloads.json"), "w").write(out)
print(len(V))
