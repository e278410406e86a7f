// The page's entry point: the two views (the conversation, and documents & settings),
// then the collections and the conversation to resume once the server answers.

import { collectionChanged, startConversations } from "./chat.js";
import { $ } from "./dom.js";
import { loadCollections, onCollectionChange } from "./manage.js";
import "./sources.js";

const VIEWS = { chat: "chat-view", manage: "manage-view" };

function show(view) {
  for (const [name, id] of Object.entries(VIEWS)) {
    $(id).hidden = name !== view;
    $(`view-${name}`).setAttribute("aria-pressed", String(name === view));
  }
}

$("view-chat").addEventListener("click", () => {
  show("chat");
  $("question").focus();
});
$("view-manage").addEventListener("click", () => show("manage"));
$("notice-settings").addEventListener("click", () => {
  show("manage");
  $("api-key").focus();
});

onCollectionChange(collectionChanged);

async function start() {
  if (await loadCollections()) await startConversations();
}

// A saved or forgotten key may open the server's conversations.
$("key-form").addEventListener("submit", () => setTimeout(startConversations));
start();
