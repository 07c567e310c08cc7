// The base map of yitu's OGC API pages, usable without the internet: Leaflet from this
// server (static/vendor/) and the county outlines of its own `region_summary` collection;
// tiles only where a tile service is configured (server.map.url, YITU_OGC_TILE_URL).
function yituBaseMap(elementId, serverUrl, tileUrl, attribution) {
  var map = L.map(elementId, {maxZoom: 18});  // no tile layer to take it from
  if (tileUrl) {
    L.tileLayer(tileUrl, {maxZoom: 18, attribution: attribution}).addTo(map);
  }
  var counties = L.geoJSON(null, {
    interactive: false,
    style: {color: '#455a64', weight: 1, fill: true, fillColor: '#eceff1', fillOpacity: 0.6}
  }).addTo(map);
  map.yituCounties = counties;
  fetch(serverUrl + '/collections/region_summary/items?f=json&limit=1000')
    .then(function (r) { return r.ok ? r.json() : {features: []}; })
    .then(function (data) {
      counties.addData(data);
      counties.bringToBack();
      if (!map._loaded && counties.getLayers().length) { map.fitBounds(counties.getBounds()); }
    });
  return map;
}
